"""Losses (MegEngine's ``functional.loss``; also reachable as ``F.nn.*`` and ``F.*``).

A prediction and a target of different shapes broadcast, as in MegEngine; where they
differ, the regression and binary losses warn as PyTorch does (``(N, 1)`` against
``(N,)`` makes an ``(N, N)`` loss, rarely what was meant). A Python number as target does
not warn. Class labels of ``cross_entropy`` and ``nll_loss`` must be integers with one
fewer axis than the prediction; anything else is an error naming the loss, the shapes
and dtypes, and the user's line.

>>> import graphc, numpy as np
>>> logits = graphc.tensor([[2.0, 0.5, -1.0]])
>>> round(cross_entropy(logits, graphc.tensor([0])).item(), 4)
0.2413
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..ir import DTypeError, ShapeError, user_location
from ..ir.node import pins_location
from ..ops import apply, broadcast_shapes
from ..tensor import Tensor
from ._operands import normalize_axis, tensor_of, warn_at_user
from .composite import composite
from .elemwise import abs, clip, equal, exp, log, log1p, maximum, square, where
from .math import mean, sum
from .tensor import expand_dims

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


def _warn_if_broadcast(name: str, pred: Tensor, label: Any) -> None:
    """PyTorch's warning where ``pred`` and ``label`` differ in shape (and so broadcast
    to something other than both)."""
    if isinstance(label, (bool, int, float)):
        return
    shape = tuple(np.shape(label)) if not isinstance(label, Tensor) else label.shape
    if shape == pred.shape:
        return
    try:
        both = broadcast_shapes(pred.shape, shape)
    except ValueError:
        return  # the loss itself raises, naming the shapes
    warn_at_user(f"{name}: the target's shape {shape} differs from the prediction's "
                 f"{pred.shape}, so they broadcast to {both}; this is likely wrong, make "
                 f"them the same shape ({user_location()})")


def _check_labels(name: str, pred: Tensor, labels: Tensor, axis: int) -> None:
    """Integer class labels with the prediction's shape less its class ``axis``."""
    shape = pred.shape
    want = shape[:axis] + shape[axis + 1:]
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{name}: labels must be integer class indices, got "
                         f"{labels.dtype.name} labels of shape {labels.shape} for a "
                         f"{pred.dtype.name} prediction of shape {shape} ({user_location()})")
    if labels.shape != want:
        squeeze_hint = ("; drop the label's size-1 axis (label.reshape(-1) or F.squeeze)"
                        if tuple(d for d in labels.shape if d != 1) == want else "")
        raise ShapeError(f"{name}: labels of shape {labels.shape} do not fit a prediction of "
                         f"shape {shape} with classes on axis {axis}: it needs one label per "
                         f"row, shape {want}{squeeze_hint} ({user_location()})")


@pins_location
def nll_loss(logp: Any, label: Any, axis: int = 1, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer ``label`` under log-probabilities ``logp``.
    Labels are bounds-checked: an out-of-range label raises ``graphc.OpError``."""
    logp = tensor_of(logp)
    a = normalize_axis("nll_loss", axis, logp.ndim)
    labels = tensor_of(label, logp._node.type.device)
    _check_labels("nll_loss", logp, labels, a)
    shape = logp.shape
    # Select with a one-hot mask rather than gather: the mask, the select and its gradient
    # are elementwise, so they fuse into the softmax kernels, where gather and its adjoint
    # scatter are library calls of their own.
    checked = Tensor._wrap(apply("check_index", [labels._node], size=shape[a], axis=a))
    classes = _class_ids(shape[a], a, logp.ndim, labels.dtype.str, logp._node.type.device)
    picked = sum(where(equal(expand_dims(checked, a), classes), logp, 0), axis=a)
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
    _check_labels("cross_entropy", pred, labels, a)
    if with_logits and reduction in _REDUCTIONS:
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
    pred = tensor_of(pred)
    _warn_if_broadcast("binary_cross_entropy", pred, label)
    label = tensor_of(label)
    if with_logits:
        loss = maximum(pred, 0) - pred * label + log1p(exp(-abs(pred)))
    else:
        p = clip(pred, 1e-12, 1 - 1e-7)
        loss = -(label * log(p) + (1 - label) * log(1 - p))
    return _reduce(loss, reduction)


@pins_location
def square_loss(pred: Any, label: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (warns where the target's shape differs: see the module).

    >>> import graphc, numpy as np
    >>> square_loss(graphc.tensor([[1.0], [3.0]]), graphc.tensor([[1.0], [1.0]])).item()
    2.0
    """
    return _squared("square_loss", pred, label, reduction)


@pins_location
def mse_loss(pred: Any, label: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: :func:`square_loss` by MegEngine's other name."""
    return _squared("mse_loss", pred, label, reduction)


def _squared(name: str, pred: Any, label: Any, reduction: str) -> Tensor:
    pred = tensor_of(pred)
    _warn_if_broadcast(name, pred, label)
    return _reduce(square(pred - label), reduction)


@pins_location
def l1_loss(pred: Any, label: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error (warns where the target's shape differs: see the module)."""
    pred = tensor_of(pred)
    _warn_if_broadcast("l1_loss", pred, label)
    return _reduce(abs(pred - label), reduction)
