"""Losses (MegEngine's ``functional.loss``; also reachable as ``F.nn.*`` and ``F.*``).

>>> import graphc, numpy as np
>>> logits = graphc.tensor([[2.0, 0.5, -1.0]])
>>> round(cross_entropy(logits, graphc.tensor([0])).item(), 4)
0.2413
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..ir.node import pins_location
from ..ops import apply
from ..tensor import Tensor
from ._operands import normalize_axis, tensor_of
from .composite import composite
from .elemwise import abs, clip, equal, exp, log, log1p, maximum, square, where
from .math import mean, sum
from .tensor import expand_dims, gather, squeeze

__all__ = ["binary_cross_entropy", "cross_entropy", "l1_loss", "mse_loss", "nll_loss",
           "square_loss"]


_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


@pins_location
def nll_loss(logp: Any, label: Any, axis: int = 1, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer ``label`` under log-probabilities ``logp``.
    Labels are bounds-checked: an out-of-range label raises ``graphc.OpError``."""
    logp = tensor_of(logp)
    a = normalize_axis("nll_loss", axis, logp.ndim)
    labels = tensor_of(label, logp._node.type.device)
    shape = logp.shape
    if labels.dtype.kind in "iu" and labels.shape == shape[:a] + shape[a + 1:]:
        # Select with a one-hot mask rather than gather: the mask, the select and its
        # gradient are elementwise, so they fuse into the softmax kernels, where gather
        # and its adjoint scatter are library calls of their own.
        checked = Tensor._wrap(apply("check_index", [labels._node], size=shape[a], axis=a))
        classes = _class_ids(shape[a], a, logp.ndim, labels.dtype.str, logp._node.type.device)
        picked = sum(where(equal(expand_dims(checked, a), classes), logp, 0), axis=a)
    else:  # gather checks the label shapes and says what is wrong
        picked = squeeze(gather(logp, a, expand_dims(labels, a)), a)
    return _reduce(-picked, reduction)


@functools.lru_cache(maxsize=64)
def _class_ids(size: int, axis: int, ndim: int, dtype: str, device: str) -> Tensor:
    """0..size-1 along ``axis`` of an ``ndim``-d array (1 elsewhere), read-only; one
    buffer per shape, reused by every step."""
    shape = [1] * ndim
    shape[axis] = size
    ids = np.arange(size, dtype=dtype).reshape(shape)
    ids.flags.writeable = False
    return Tensor(ids, device=device)


@pins_location
def cross_entropy(pred: Any, label: Any, axis: int = 1, with_logits: bool = True,
                  label_smooth: float = 0.0, reduction: str = "mean") -> Tensor:
    """Cross entropy of integer ``label`` (one fewer dimension than ``pred``).

    ``with_logits=False`` takes probabilities; ``label_smooth`` mixes the one-hot target
    with the uniform distribution, as MegEngine does.
    """
    pred = tensor_of(pred)
    a = normalize_axis("cross_entropy", axis, pred.ndim)
    labels = tensor_of(label, pred._node.type.device)
    shape = pred.shape
    if (with_logits and reduction in _REDUCTIONS and labels.dtype.kind in "iu"
            and labels.shape == shape[:a] + shape[a + 1:]):
        return _cross_entropy_logits(pred, labels, axis=a, label_smooth=float(label_smooth),
                                     reduction=reduction)
    return _cross_entropy(pred, labels, a, with_logits, label_smooth, reduction)


def _cross_entropy(pred: Tensor, label: Tensor, axis: int, with_logits: bool,
                   label_smooth: float, reduction: str) -> Tensor:
    from .nn import logsoftmax  # nn re-exports the losses, so import it late

    logp = logsoftmax(pred, axis) if with_logits else log(pred)
    loss = nll_loss(logp, label, axis, "none")
    if label_smooth:
        uniform = -mean(logp, axis)
        loss = loss * (1 - label_smooth) + uniform * label_smooth
    return _reduce(loss, reduction)


@composite("cross_entropy")
def _cross_entropy_logits(pred: Tensor, label: Tensor, *, axis: int, label_smooth: float,
                          reduction: str) -> Tensor:
    """Cross entropy of logits and class indices as one node while the step is built
    (see :mod:`.composite`)."""
    return _cross_entropy(pred, label, axis, True, label_smooth, reduction)


@pins_location
def binary_cross_entropy(pred: Any, label: Any, with_logits: bool = True,
                         reduction: str = "mean") -> Tensor:
    """Binary cross entropy; with logits it is computed stably as
    ``max(x, 0) - x*y + log1p(exp(-|x|))``."""
    pred, label = tensor_of(pred), tensor_of(label)
    if with_logits:
        loss = maximum(pred, 0) - pred * label + log1p(exp(-abs(pred)))
    else:
        p = clip(pred, 1e-12, 1 - 1e-7)
        loss = -(label * log(p) + (1 - label) * log(1 - p))
    return _reduce(loss, reduction)


@pins_location
def square_loss(pred: Any, label: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error."""
    return _reduce(square(tensor_of(pred) - label), reduction)


mse_loss = square_loss


@pins_location
def l1_loss(pred: Any, label: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    return _reduce(abs(tensor_of(pred) - label), reduction)
