"""Convolution layers: Conv2d (MegEngine's shapes, initialisation and repr)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .module import Module


def _pair(name: str, value: int | tuple[int, int], low: int) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= low for v in pair):
        raise ValueError(f"Conv2d: {name} must be an int or a pair of ints >= {low}, "
                         f"got {value!r}")
    return tuple(int(v) for v in pair)


class Conv2d(Module):
    """2-D convolution over NCHW inputs, as MegEngine's ``M.Conv2d``.

    The weight is (out_channels, in_channels, kh, kw), or with ``groups > 1``
    (groups, out_channels // groups, in_channels // groups, kh, kw); the bias is
    (1, out_channels, 1, 1). Both are initialised as MegEngine does: the weight from
    N(0, 1 / fan_in) with fan_in = in_channels * kh * kw, the bias with zeros.

    >>> import graphc, numpy as np
    >>> conv = Conv2d(3, 8, 3, padding=1)
    >>> conv
    Conv2d(3, 8, kernel_size=(3, 3), padding=(1, 1))
    >>> conv(graphc.tensor(np.ones((2, 3, 5, 5)))).shape
    (2, 8, 5, 5)
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                 groups: int = 1, bias: bool = True, conv_mode: str = "cross_correlation",
                 compute_mode: str = "default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.dilation = _pair("dilation", dilation, 1)
        self.groups = groups
        self.conv_mode, self.compute_mode = conv_mode, compute_mode
        kh, kw = self.kernel_size
        shape = ((out_channels, in_channels, kh, kw) if groups == 1 else
                 (groups, out_channels // groups, in_channels // groups, kh, kw))
        self.weight = Parameter(np.zeros(shape, np.float32))
        self.bias = Parameter(np.zeros((1, out_channels, 1, 1), np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight from N(0, 1/fan_in), bias zero (MegEngine's ``_ConvNd``)."""
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        init.normal_(self.weight, 0.0, math.sqrt(1.0 / fan_in))
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, self.conv_mode, self.compute_mode)

    def _module_info_string(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != (1, 1):
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
