"""ResNet-18 (He et al. 2015) in its ImageNet form — 7×7 stem, four stages of two basic
blocks, global average pool, a fully connected classifier — in graphc and as a PyTorch
twin with the same module names. Any image size of at least 32×32 works.

>>> model = resnet18()
>>> sum(p.size for p in model.parameters())  # torchvision's resnet18: 11,689,512
11689512
"""

from __future__ import annotations

import graphc.module as M

__all__ = ["BasicBlock", "ResNet18", "resnet18", "torch_resnet18"]

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))  # (channels, stride of the first block)


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
    """ResNet-18 for 3×H×W images (224×224 in the paper)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = M.Sequential(M.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
                                 M.BatchNorm2d(64), M.ReLU(), M.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for cout, stride in STAGES:
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


def torch_resnet18(num_classes: int = 1000):
    """ResNet-18 in PyTorch, layer for layer and name for name as :func:`resnet18`."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.shortcut = nn.Identity()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], 64
            for cout, stride in STAGES:
                blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))

    return Net()
