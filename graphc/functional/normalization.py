"""Normalisation: ``batch_norm`` and ``layer_norm``, built from reductions and elementwise
ops, so they get gradients and row-wise fusion for free.

Batch statistics are biased (divide by the count), as the normalisation uses them;
``running_var`` accumulates the *unbiased* variance (count - 1), as MegEngine does, with
MegEngine's momentum convention: ``running = momentum * running + (1 - momentum) * batch``
(the opposite of PyTorch's). In training with ``inplace=True`` the running buffers are
rebound to their new values through :func:`graphc.lazy.rebind`: the update stays pending
until the next realization, and ``optimizer.step()`` computes it in the step's Program.

>>> import graphc, graphc.functional as F
>>> x = graphc.tensor([[1., 2.], [3., 6.]])
>>> F.batch_norm(x, training=True, eps=0.0).numpy()
array([[-1., -1.],
       [ 1.,  1.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import lazy
from ..ir import DTypeError, ShapeError, user_location
from ..tensor import Tensor
from ._operands import tensor_of
from .composite import composite
from .elemwise import sqrt, square
from .math import mean

__all__ = ["batch_norm", "layer_norm"]


def _float_input(op: str, inp: Any) -> Tensor:
    x = tensor_of(inp)
    if not np.issubdtype(x.dtype, np.floating):
        raise DTypeError(f"{op}: expects a floating-point input, got {x.dtype.name} of shape "
                         f"{x.shape} ({user_location()})")
    return x


def _normalized(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(x - mean) / sqrt(var + eps)`` over ``axes`` with the (biased) statistics, kept
    as row values of the reduction (keepdims) so the whole thing fuses into one kernel."""
    mu = mean(x, axes, keepdims=True)
    centred = x - mu
    var = mean(square(centred), axes, keepdims=True)
    return centred * (1.0 / sqrt(var + eps)), mu, var


def _channel_param(name: str, value: Any, x: Tensor) -> Tensor | None:
    """A per-channel tensor (``C`` elements: shape ``(C,)``, ``(1, C)``, ``(1, C, 1, 1)``,
    ...: MegEngine keeps (1, C, 1, 1) for 2-d and 3-d inputs too), checked against ``x``;
    :func:`_per_channel` shapes it to broadcast."""
    if value is None:
        return None
    t = tensor_of(value, x._node.type.device)
    channels = x.shape[1]
    fits = t.size == channels and (t.shape == (channels,) or (
        t.ndim >= 2 and t.shape[1] == channels))
    if not fits:
        target = (1, channels) + (1,) * (x.ndim - 2)
        raise ShapeError(f"batch_norm: {name} of shape {t.shape} does not match the {channels} "
                         f"channels of the input of shape {x.shape}; expected ({channels},) "
                         f"or {target} ({user_location()})")
    return t


def _per_channel(t: Tensor, x: Tensor) -> Tensor:
    """``t`` as ``(1, C, 1, ...)`` with ``x``'s rank and dtype, to broadcast against it."""
    target = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return (t.reshape(target) if t.shape != target else t).astype(x.dtype)


def _running_update(running: Tensor, stat: Tensor, momentum: float) -> Tensor:
    """MegEngine's update, in the running buffer's own shape and dtype."""
    stat = stat.reshape(running.shape).astype(running.dtype)
    return running * momentum + stat * (1.0 - momentum)


def batch_norm(inp: Any, running_mean: Tensor | None = None, running_var: Tensor | None = None,
               weight: Any = None, bias: Any = None, *, training: bool = False,
               momentum: float = 0.9, eps: float = 1e-5, inplace: bool = True
               ) -> Tensor | tuple[Tensor, Tensor | None, Tensor | None]:
    """Batch normalisation over every axis but the channel axis 1 of an (N, C, ...) input.

    In training the batch's mean and biased variance normalise ``inp``, and given running
    statistics are updated as ``momentum * running + (1 - momentum) * batch`` (the
    unbiased variance for ``running_var``): in place when ``inplace`` (the tensors are
    rebound; the update is computed at the next realization), else returned as
    ``(output, new_mean, new_var)``. Out of training the running statistics normalise.
    Parameters may have shape ``(C,)`` or ``(1, C, 1, ...)``.

    >>> import graphc, graphc.functional as F
    >>> x = graphc.tensor([[1., 2.], [3., 6.]])
    >>> rm, rv = F.zeros((1, 2)), F.ones((1, 2))
    >>> y = F.batch_norm(x, rm, rv, training=True)
    >>> rm.numpy(), rv.numpy()
    (array([[0.2, 0.4]], dtype=float32), array([[1.1, 1.7]], dtype=float32))
    """
    x = _float_input("batch_norm", inp)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expects an (N, C, ...) input, got shape {x.shape} "
                         f"({user_location()})")
    rm = _channel_param("running_mean", running_mean, x)
    rv = _channel_param("running_var", running_var, x)
    w = _channel_param("weight", weight, x)
    b = _channel_param("bias", bias, x)
    affine = [t for t in (w, b) if t is not None]
    flags = {"has_weight": w is not None, "has_bias": b is not None, "eps": float(eps)}
    if training:
        out = _batch_norm_train(x, *affine, **flags)
    else:
        if rm is None or rv is None:
            raise ValueError(f"batch_norm: running_mean and running_var are needed when not "
                             f"training ({user_location()})")
        out = _batch_norm_eval(x, rm, rv, *affine, **flags)
    if not training or (running_mean is None and running_var is None):
        return out
    count = x.size // x.shape[1]
    new_mean = new_var = None
    if running_mean is not None:
        new_mean = _running_mean(running_mean, x, momentum=float(momentum))
    if running_var is not None:
        if count < 2:
            raise ValueError(f"batch_norm: the unbiased variance for running_var needs more "
                             f"than one value per channel, got input shape {x.shape} "
                             f"({user_location()})")
        new_var = _running_var(running_var, x, momentum=float(momentum))
    if not inplace:
        return out, new_mean, new_var
    for target, value in ((running_mean, new_mean), (running_var, new_var)):
        if value is not None:
            lazy.rebind(target, value._node)
    return out


# Each of these is one node while a step is built (see graphc.functional.composite): a
# BatchNorm layer in training was some 25 nodes per step. The running statistics'
# expansions recompute the batch mean and variance; once lowered they are the same
# nodes as the output's (hash-consing and cse), so the step computes them once.

def _channel_axes(x: Tensor) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _affine(out: Tensor, x: Tensor, params: tuple[Tensor, ...], has_weight: bool,
            has_bias: bool) -> Tensor:
    rest = list(params)
    if has_weight:
        out = out * _per_channel(rest.pop(0), x)
    if has_bias:
        out = out + _per_channel(rest.pop(0), x)
    return out


@composite("batch_norm_train")
def _batch_norm_train(x: Tensor, *params: Tensor, has_weight: bool, has_bias: bool,
                      eps: float) -> Tensor:
    """Normalised by the batch's statistics over every axis but 1, then weight and bias."""
    out, _, _ = _normalized(x, _channel_axes(x), eps)
    return _affine(out, x, params, has_weight, has_bias)


@composite("batch_norm_eval")
def _batch_norm_eval(x: Tensor, running_mean: Tensor, running_var: Tensor, *params: Tensor,
                     has_weight: bool, has_bias: bool, eps: float) -> Tensor:
    """Normalised by the running statistics, then weight and bias."""
    out = (x - _per_channel(running_mean, x)) * (
        1.0 / sqrt(_per_channel(running_var, x) + eps))
    return _affine(out, x, params, has_weight, has_bias)


@composite("batch_norm_running_mean")
def _running_mean(running: Tensor, x: Tensor, *, momentum: float) -> Tensor:
    """``momentum * running + (1 - momentum) * batch mean``."""
    _, mu, _ = _normalized(x, _channel_axes(x), 0.0)
    return _running_update(running, mu, momentum)


@composite("batch_norm_running_var")
def _running_var(running: Tensor, x: Tensor, *, momentum: float) -> Tensor:
    """``momentum * running + (1 - momentum) * unbiased batch variance``."""
    _, _, var = _normalized(x, _channel_axes(x), 0.0)
    count = x.size // x.shape[1]
    return _running_update(running, var * (count / (count - 1)), momentum)


def _normalized_axes(x: Tensor, normalized_shape: Any) -> tuple[int, ...]:
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(d) for d in normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ShapeError(f"layer_norm: normalized_shape {shape} must be the trailing "
                         f"dimensions of the input of shape {x.shape} ({user_location()})")
    return tuple(range(x.ndim - len(shape), x.ndim))


def layer_norm(inp: Any, normalized_shape: int | tuple[int, ...], affine: bool = True,
               weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes with the (biased) statistics
    of each row; with ``affine`` (MegEngine's default) ``weight`` and ``bias`` of shape
    ``normalized_shape`` are required and applied.

    >>> import graphc, graphc.functional as F
    >>> F.layer_norm(graphc.tensor([[1., 3.], [2., 6.]]), 2, affine=False, eps=0.0).numpy()
    array([[-1.,  1.],
           [-1.,  1.]], dtype=float32)
    """
    x = _float_input("layer_norm", inp)
    axes = _normalized_axes(x, normalized_shape)
    if not affine:
        return _layer_norm(x, axes=axes, eps=float(eps))
    if weight is None or bias is None:
        raise ValueError(f"layer_norm: affine=True needs weight and bias (pass affine=False "
                         f"to only normalise) ({user_location()})")
    norm_shape = x.shape[axes[0]:]
    params = []
    for name, value in (("weight", weight), ("bias", bias)):
        t = tensor_of(value, x._node.type.device)
        if t.shape != norm_shape:
            raise ShapeError(f"layer_norm: {name} of shape {t.shape} must have the "
                             f"normalized_shape {norm_shape} ({user_location()})")
        params.append(t)
    return _layer_norm(x, *params, axes=axes, eps=float(eps))


@composite("layer_norm")
def _layer_norm(x: Tensor, *params: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    """Normalised over ``axes`` by each row's statistics, then weight and bias if given
    (one node while a step is built, see graphc.functional.composite)."""
    out, _, _ = _normalized(x, axes, eps)
    if params:
        weight, bias = params
        out = out * weight.astype(x.dtype) + bias.astype(x.dtype)
    return out
