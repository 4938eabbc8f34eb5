"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def _module_info_string(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling (``F.max_pool2d``); ``stride`` defaults to ``kernel_size``.

    >>> import graphc, numpy as np
    >>> pool = MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0)
    >>> pool(graphc.tensor(np.ones((1, 3, 4, 4)))).shape
    (1, 3, 2, 2)
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Average pooling (``F.avg_pool2d``); ``mode`` is ``"average_count_exclude_padding"``
    (the default) or ``"average"``.

    >>> AvgPool2d(3, 1, 1)
    AvgPool2d(kernel_size=3, stride=1, padding=1)
    """

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0,
                 mode: str = "average_count_exclude_padding", **kwargs: Any) -> None:
        super().__init__(kernel_size, stride, padding, **kwargs)
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.mode)


class _AdaptivePool2d(Module):
    def __init__(self, oshp: int | tuple[int, int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oshp = oshp

    def _module_info_string(self) -> str:
        return f"oshp={self.oshp}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Average pooling to an output of size ``oshp`` (``F.adaptive_avg_pool2d``).

    >>> import graphc, numpy as np
    >>> AdaptiveAvgPool2d(1)(graphc.tensor(np.ones((2, 3, 5, 5)))).shape
    (2, 3, 1, 1)
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.oshp)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Max pooling to an output of size ``oshp`` (``F.adaptive_max_pool2d``).

    >>> AdaptiveMaxPool2d((2, 2))
    AdaptiveMaxPool2d(oshp=(2, 2))
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_max_pool2d(x, self.oshp)
