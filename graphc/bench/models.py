"""Benchmark models, written once in graphc and once in PyTorch with the same layers:
LeNet-5 and ResNet-18 (the ImageNet form: 7×7 stem, four stages of two basic blocks,
global average pool, 1000 classes). The PyTorch twins are what graphc is measured
against; PyTorch is imported only when a twin is asked for.

>>> model = resnet18(num_classes=10)
>>> sum(p.size for p in model.parameters()) > 11_000_000
True
"""

from __future__ import annotations

import graphc.module as M

# ---- graphc ----------------------------------------------------------------------------


def lenet5() -> M.Module:
    """LeNet-5 on 1×28×28: conv 6@5×5 pad 2, pool, conv 16@5×5, pool, 120, 84, 10."""
    return M.Sequential(
        M.Conv2d(1, 6, 5, padding=2), M.ReLU(), M.MaxPool2d(2),
        M.Conv2d(6, 16, 5), M.ReLU(), M.MaxPool2d(2), M.Flatten(),
        M.Linear(400, 120), M.ReLU(), M.Linear(120, 84), M.ReLU(), M.Linear(84, 10))


class BasicBlock(M.Module):
    """Two 3×3 conv-BN layers and a shortcut (1×1 conv-BN where the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = M.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = M.BatchNorm2d(cout)
        self.conv2 = M.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = M.BatchNorm2d(cout)
        self.relu = M.ReLU()
        self.shortcut = M.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = M.Sequential(M.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                         M.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(M.Module):
    """ResNet-18 (He et al. 2015) for 3×224×224 images."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = M.Sequential(M.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
                                 M.BatchNorm2d(64), M.ReLU(), M.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = M.Sequential(*blocks)
        self.pool = M.AdaptiveAvgPool2d(1)
        self.fc = M.Linear(512, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


def resnet18(num_classes: int = 1000) -> M.Module:
    """ResNet-18 in graphc."""
    return ResNet18(num_classes)


# ---- PyTorch twins ---------------------------------------------------------------------


def torch_lenet5():
    """LeNet-5 in PyTorch, layer for layer as :func:`lenet5`."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def torch_resnet18(num_classes: int = 1000):
    """ResNet-18 in PyTorch, layer for layer as :func:`resnet18`."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Identity()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.bn1(self.conv1(x)).relu()
            return (self.bn2(self.conv2(y)) + self.shortcut(x)).relu()

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)
