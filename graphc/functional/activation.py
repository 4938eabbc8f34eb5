"""Activations MegEngine's ``functional.nn`` has beyond relu, sigmoid and gelu, written
from existing functions (so they get gradients and fusion).

>>> import graphc, graphc.functional as F
>>> F.nn.relu6(graphc.tensor([-1., 3., 8.])).numpy()
array([0., 3., 6.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from ..ir import ShapeError, user_location
from ..tensor import Tensor
from ._operands import tensor_of
from .elemwise import abs, clip, exp, log1p, maximum, sigmoid, where

__all__ = ["hsigmoid", "hswish", "logsigmoid", "prelu", "relu6", "silu", "softplus"]


def relu6(x: Any) -> Tensor:
    """``min(max(x, 0), 6)``."""
    return clip(tensor_of(x), 0.0, 6.0)


def hsigmoid(x: Any) -> Tensor:
    """Hard sigmoid: ``relu6(x + 3) / 6``.

    >>> import graphc
    >>> hsigmoid(graphc.tensor([-4., 0., 4.])).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    return relu6(tensor_of(x) + 3.0) / 6.0


def hswish(x: Any) -> Tensor:
    """Hard swish: ``x * relu6(x + 3) / 6``."""
    t = tensor_of(x)
    return t * relu6(t + 3.0) / 6.0


def silu(x: Any) -> Tensor:
    """``x * sigmoid(x)`` (swish)."""
    t = tensor_of(x)
    return t * sigmoid(t)


def softplus(inp: Any) -> Tensor:
    """``log(1 + exp(x))``, computed as ``log1p(exp(-|x|)) + max(x, 0)`` so large inputs do
    not overflow.

    >>> import graphc
    >>> softplus(graphc.tensor([0., 100.])).numpy()
    array([  0.6931472, 100.       ], dtype=float32)
    """
    t = tensor_of(inp)
    return log1p(exp(-abs(t))) + maximum(t, 0.0)


def logsigmoid(inp: Any) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``."""
    return -softplus(-tensor_of(inp))


def prelu(inp: Any, weight: Any) -> Tensor:
    """``x`` where positive, else ``weight * x``; ``weight`` is one value or one per
    channel (axis 1).

    >>> import graphc
    >>> prelu(graphc.tensor([[-2., 2.]]), graphc.tensor([0.5])).numpy()
    array([[-1.,  2.]], dtype=float32)
    """
    x, w = tensor_of(inp), tensor_of(weight)
    if w.size != 1:
        if x.ndim < 2 or w.ndim != 1 or w.shape[0] != x.shape[1]:
            raise ShapeError(f"prelu: weight of shape {w.shape} must have one value or one "
                             f"per channel (axis 1 of {x.shape}) ({user_location()})")
        w = w.reshape(1, -1, *([1] * (x.ndim - 2)))
    return where(x > 0, x, x * w)
