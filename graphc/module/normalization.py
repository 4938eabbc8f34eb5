"""Normalisation layers: BatchNorm1d, BatchNorm2d and LayerNorm (MegEngine's semantics).

BatchNorm keeps ``weight``/``bias`` (Parameters) and ``running_mean``/``running_var``
(buffers) in MegEngine's shape ``(1, C, 1, 1)``. Training normalises with the batch's
statistics and updates the running ones (``momentum * running + (1 - momentum) *
batch``, unbiased variance; the update is computed at the next realization, at the
latest by ``optimizer.step()``); eval normalises with the running statistics.

>>> import graphc, numpy as np
>>> bn = BatchNorm2d(3)
>>> bn(graphc.tensor(np.ones((2, 3, 4, 4)))).shape, bn.running_mean.shape
((2, 3, 4, 4), (1, 3, 1, 1))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..functional._operands import tensor_of
from ..ir import ShapeError, user_location
from ..tensor import Parameter, Tensor
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class _BatchNorm(Module):
    _ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.9,
                 affine: bool = True, track_running_stats: bool = True, freeze: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if freeze and not track_running_stats:
            raise ValueError(f"{type(self).__name__}: freeze=True needs "
                             "track_running_stats=True (it normalises with the running "
                             "statistics)")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.freeze = freeze
        shape = (1, num_features, 1, 1)
        self.weight = Parameter(np.ones(shape, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(shape, np.float32)) if affine else None
        self.running_mean = Tensor(np.zeros(shape, np.float32)) if track_running_stats else None
        self.running_var = Tensor(np.ones(shape, np.float32)) if track_running_stats else None

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in self._ndims:
            want = " or ".join(f"{n}-d" for n in self._ndims)
            raise ShapeError(f"{type(self).__name__}: expects a {want} input, got shape "
                             f"{x.shape} ({user_location()})")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}): input of shape "
                             f"{x.shape} has {x.shape[1]} channels ({user_location()})")

    def forward(self, inp: Any) -> Tensor:
        x = tensor_of(inp)
        self._check_input(x)
        weight, bias = self.weight, self.bias
        if self.freeze:  # fixed statistics and affine parameters (MegEngine's freeze)
            weight = weight.detach() if weight is not None else None
            bias = bias.detach() if bias is not None else None
            return F.batch_norm(x, self.running_mean, self.running_var, weight, bias,
                                training=False, eps=self.eps)
        training = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean, self.running_var, weight, bias,
                            training=training, momentum=self.momentum, eps=self.eps)

    def _module_info_string(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of an (N, C) or (N, C, L) input over all axes but C.

    >>> import graphc, numpy as np
    >>> bn = BatchNorm1d(2, eps=0.0)
    >>> bn(graphc.tensor([[1., 2.], [3., 6.]])).numpy()
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> bn.running_mean.numpy().ravel()
    array([0.2, 0.4], dtype=float32)
    """

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of an (N, C, H, W) input over N, H and W.

    >>> BatchNorm2d(16)
    BatchNorm2d(16, eps=1e-05, momentum=0.9, affine=True, track_running_stats=True)
    """

    _ndims = (4,)


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` axes; with ``affine``,
    a ``weight`` (ones) and ``bias`` (zeros) of that shape follow.

    >>> import graphc
    >>> ln = LayerNorm(2, eps=0.0)
    >>> ln(graphc.tensor([[1., 3.], [2., 6.]])).numpy()
    array([[-1.,  1.],
           [-1.,  1.]], dtype=float32)
    >>> ln
    LayerNorm((2,), eps=0.0, affine=True)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 affine: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(d) for d in normalized_shape)
        self.eps = eps
        self.affine = affine
        shape = self.normalized_shape
        self.weight = Parameter(np.ones(shape, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(shape, np.float32)) if affine else None

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.affine, self.weight, self.bias,
                            self.eps)

    def _module_info_string(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, affine={self.affine}"
