"""ShuffleNet V2 (Ma et al. 2018) at width ×0.5, in graphc and as a PyTorch twin with the
same module names (torchvision's ``shufflenet_v2_x0_5`` layout, whose parameter count is
1,366,792 with 1000 classes).

The stem is a 3×3 stride-2 convolution to 24 channels with BN and ReLU, then a 3×3
stride-2 max pool; three stages of ShuffleNet V2 units (4, 8 and 4 of them; 48, 96 and
192 channels) follow, then a 1×1 convolution to 1024 channels, global average pooling
and a fully connected classifier. A unit of stride 1 splits its channels in two, passes
one half through, sends the other through 1×1 conv – 3×3 depthwise conv – 1×1 conv (each
with BN, ReLU after the pointwise ones), concatenates the halves and shuffles the
channels; a unit of stride 2 (the first of each stage) sends the whole input through two
such branches and doubles the channels.

>>> model = shufflenet_v2_x0_5()
>>> sum(p.size for p in model.parameters())
1366792
"""

from __future__ import annotations

import graphc.functional as F
import graphc.module as M

__all__ = ["InvertedResidual", "ShuffleNetV2", "channel_shuffle", "shufflenet_v2_x0_5",
           "torch_shufflenet_v2_x0_5"]

STAGE_REPEATS = (4, 8, 4)
CHANNELS_X0_5 = (24, 48, 96, 192, 1024)  # stem, the three stages, conv5


def channel_shuffle(x, groups: int = 2):
    """Interleave ``groups`` groups of channels of an NCHW tensor: with two groups the
    channels (a0, a1, ..., b0, b1, ...) become (a0, b0, a1, b1, ...).

    >>> import graphc, numpy as np
    >>> x = graphc.tensor(np.arange(4.).reshape(1, 4, 1, 1))
    >>> channel_shuffle(x).numpy().ravel().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    n, c, h, w = x.shape
    x = x.reshape(n, groups, c // groups, h, w).transpose(0, 2, 1, 3, 4)
    return x.reshape(n, c, h, w)


def _pointwise(cin: int, cout: int) -> list[M.Module]:
    return [M.Conv2d(cin, cout, 1, bias=False), M.BatchNorm2d(cout), M.ReLU()]


def _depthwise(channels: int, stride: int) -> list[M.Module]:
    return [M.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels,
                     bias=False), M.BatchNorm2d(channels)]


class InvertedResidual(M.Module):
    """One ShuffleNet V2 unit (torchvision's name for it): ``cin`` → ``cout`` channels."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2) or (stride == 1 and cin != cout) or cout % 2:
            raise ValueError(f"InvertedResidual: stride {stride} from {cin} to {cout} "
                             "channels (stride 1 keeps an even channel count; stride 2 "
                             "is the only one that changes it)")
        self.stride = stride
        half = cout // 2
        self.branch1 = (M.Sequential(*_depthwise(cin, stride), *_pointwise(cin, half))
                        if stride == 2 else None)
        self.branch2 = M.Sequential(*_pointwise(cin if stride == 2 else half, half),
                                    *_depthwise(half, stride), *_pointwise(half, half))

    def forward(self, x):
        if self.stride == 1:
            half = x.shape[1] // 2
            out = F.concat([x[:, :half], self.branch2(x[:, half:])], axis=1)
        else:
            out = F.concat([self.branch1(x), self.branch2(x)], axis=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(M.Module):
    """ShuffleNet V2 with the given units per stage and channels (stem, stages, conv5)."""

    def __init__(self, stages_repeats: tuple[int, ...] = STAGE_REPEATS,
                 stages_out_channels: tuple[int, ...] = CHANNELS_X0_5,
                 num_classes: int = 1000) -> None:
        super().__init__()
        if len(stages_repeats) != 3 or len(stages_out_channels) != 5:
            raise ValueError("ShuffleNetV2: three stage repeats and five channel counts")
        c0 = stages_out_channels[0]
        self.conv1 = M.Sequential(M.Conv2d(3, c0, 3, stride=2, padding=1, bias=False),
                                  M.BatchNorm2d(c0), M.ReLU())
        self.maxpool = M.MaxPool2d(3, 2, 1)
        cin = c0
        for i, (repeats, cout) in enumerate(zip(stages_repeats, stages_out_channels[1:4])):
            units = [InvertedResidual(cin, cout, 2)]
            units += [InvertedResidual(cout, cout, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{i + 2}", M.Sequential(*units))
            cin = cout
        self.conv5 = M.Sequential(*_pointwise(cin, stages_out_channels[-1]))
        self.fc = M.Linear(stages_out_channels[-1], num_classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(F.mean(x, axis=(2, 3)))


def shufflenet_v2_x0_5(num_classes: int = 1000,
                       stages_repeats: tuple[int, ...] = STAGE_REPEATS) -> M.Module:
    """ShuffleNet V2 ×0.5 in graphc (``stages_repeats`` shortens it for quick tests)."""
    return ShuffleNetV2(stages_repeats, CHANNELS_X0_5, num_classes)


def torch_shufflenet_v2_x0_5(num_classes: int = 1000,
                             stages_repeats: tuple[int, ...] = STAGE_REPEATS):
    """ShuffleNet V2 ×0.5 in PyTorch, layer for layer and name for name as
    :func:`shufflenet_v2_x0_5` (and as torchvision's ``shufflenet_v2_x0_5``)."""
    import torch
    from torch import nn

    def pointwise(cin, cout):
        return [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    def depthwise(channels, stride):
        return [nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False),
                nn.BatchNorm2d(channels)]

    def shuffle(x, groups=2):
        n, c, h, w = x.shape
        return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    class Unit(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.stride, half = stride, cout // 2
            self.branch1 = (nn.Sequential(*depthwise(cin, stride), *pointwise(cin, half))
                            if stride == 2 else None)
            self.branch2 = nn.Sequential(*pointwise(cin if stride == 2 else half, half),
                                         *depthwise(half, stride), *pointwise(half, half))

        def forward(self, x):
            if self.stride == 1:
                a, b = x.chunk(2, dim=1)
                return shuffle(torch.cat([a, self.branch2(b)], 1))
            return shuffle(torch.cat([self.branch1(x), self.branch2(x)], 1))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            c = CHANNELS_X0_5
            self.conv1 = nn.Sequential(nn.Conv2d(3, c[0], 3, 2, 1, bias=False),
                                       nn.BatchNorm2d(c[0]), nn.ReLU())
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = c[0]
            for i, (repeats, cout) in enumerate(zip(stages_repeats, c[1:4])):
                units = [Unit(cin, cout, 2)] + [Unit(cout, cout, 1) for _ in range(repeats - 1)]
                setattr(self, f"stage{i + 2}", nn.Sequential(*units))
                cin = cout
            self.conv5 = nn.Sequential(*pointwise(cin, c[-1]))
            self.fc = nn.Linear(c[-1], num_classes)

        def forward(self, x):
            x = self.maxpool(self.conv1(x))
            x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
            return self.fc(x.mean((2, 3)))

    return Net()
