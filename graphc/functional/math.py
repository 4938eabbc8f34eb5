"""Reductions, statistics and matrix multiplication.

>>> import graphc, graphc.functional as F
>>> x = graphc.tensor([[1., 2.], [3., 4.]])
>>> F.sum(x, axis=0).numpy(), F.argmax(x).item()
(array([4., 6.], dtype=float32), 3)
"""

from __future__ import annotations

from typing import Any

from .. import dtypes
from ..ir import GraphcError, ShapeError, user_location
from ..ir.node import pins_location
from ..ops import apply, broadcast_shapes
from ..tensor import Tensor
from ._operands import (
    broadcast_node,
    normalize_axes,
    normalize_axis,
    tensor_of,
    wrap,
)
from .elemwise import sqrt, square


def _reduce(op: str, inp: Any, axis: Any, keepdims: bool) -> Tensor:
    x = tensor_of(inp)
    axes = normalize_axes(op, axis, x.ndim)
    if not axes:
        return wrap(x._node)  # a new handle: an in-place op on it must not rebind inp
    return wrap(apply(op, [x._node], axes=axes, keepdims=bool(keepdims)))


def sum(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (an int, a sequence, or None for all)."""
    return _reduce("sum", inp, axis, keepdims)


def prod(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``."""
    return _reduce("prod", inp, axis, keepdims)


def max(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; NaN propagates."""
    return _reduce("max", inp, axis, keepdims)


def min(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; NaN propagates."""
    return _reduce("min", inp, axis, keepdims)


def _count(x: Tensor, axis: Any) -> int:
    n = 1
    for a in normalize_axes("mean", axis, x.ndim):
        n *= x.shape[a]
    return n


@pins_location
def mean(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``; integer input gives float32."""
    x = tensor_of(inp)
    x = x.astype(dtypes.to_float(x.dtype))
    n = _count(x, axis)
    return sum(x, axis, keepdims) / float(n) if n else sum(x, axis, keepdims) * float("nan")


@pins_location
def var(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population variance (NumPy's default, ``ddof=0``)."""
    x = tensor_of(inp)
    x = x.astype(dtypes.to_float(x.dtype))
    centred = x - mean(x, axis, keepdims=True)
    return mean(square(centred), axis, keepdims)


@pins_location
def std(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population standard deviation."""
    return sqrt(var(inp, axis, keepdims))


def _arg(op: str, inp: Any, axis: Any, keepdims: bool) -> Tensor:
    x = tensor_of(inp)
    if axis is None:
        flat = x.reshape(-1)
        out = wrap(apply(op, [flat._node], axes=(0,), keepdims=False))
        return out.reshape([1] * x.ndim) if keepdims else out
    if isinstance(axis, (list, tuple)):
        if not axis:
            raise ShapeError(f"{op}: axis=() names no axis; give an int, a tuple of axes "
                             f"or None ({user_location()})")
        axes = normalize_axes(op, axis, x.ndim)
        if not axes:  # a 0-d tensor: its one element is at index 0
            return _arg(op, x, 0, keepdims)
        # MegEngine's rule for several axes: reduce over each in turn, the highest axis
        # first, each step taking the arg-reduction of the previous step's indices.
        for a in reversed(axes):
            x = _arg(op, x, a, keepdims)
        return x
    a = normalize_axis(op, int(axis), x.ndim)
    if x.ndim == 0:
        return wrap(apply(op, [x.reshape(1)._node], axes=(0,), keepdims=False))
    return wrap(apply(op, [x._node], axes=(a,), keepdims=bool(keepdims)))


def argmax(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Index of the maximum (int32); ``axis=None`` indexes the flattened tensor.

    A tuple or list of axes reduces over each in turn, the highest axis first, as
    MegEngine does: after the first, each step takes the argmax of the indices the
    step before it gave.

    >>> import graphc
    >>> x = graphc.tensor([[1., 5., 2.], [7., 0., 3.]])
    >>> argmax(x).item(), argmax(x, axis=1).numpy().tolist(), argmax(x, (0, 1)).item()
    (3, [1, 0], 0)
    """
    return _arg("argmax", inp, axis, keepdims)


def argmin(inp: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Index of the minimum (int32); ``axis=None`` indexes the flattened tensor. Several
    axes reduce in turn, the highest first, as in :func:`argmax`.

    >>> import graphc
    >>> argmin(graphc.tensor([[1., 5.], [-7., 0.]]), axis=0).numpy().tolist()
    [1, 1]
    """
    return _arg("argmin", inp, axis, keepdims)


@pins_location
def matmul(inp1: Any, inp2: Any, transpose_a: bool = False, transpose_b: bool = False) -> Tensor:
    """Matrix product with NumPy's rules: vectors, batches and batch broadcasting.

    >>> import graphc, numpy as np
    >>> a = graphc.tensor(np.ones((2, 3))); b = graphc.tensor(np.ones((3, 4)))
    >>> matmul(a, b).shape, matmul(b, b, transpose_a=True).shape
    ((2, 4), (4, 4))
    """
    ta, tb = tensor_of(inp1), tensor_of(inp2)
    if ta.dtype != tb.dtype or ta.dtype == dtypes.bool_:
        dtype = dtypes.promote_types(ta.dtype, tb.dtype)
        dtype = dtypes.int32 if dtype == dtypes.bool_ else dtype
        ta, tb = ta.astype(dtype), tb.astype(dtype)
    if ta.ndim == 0 or tb.ndim == 0:
        raise ShapeError(f"matmul: cannot multiply {ta.shape} by {tb.shape}: operands must "
                         f"have at least one dimension ({user_location()})")
    user_shapes = ta.shape, tb.shape
    squeeze_a, squeeze_b = ta.ndim == 1, tb.ndim == 1
    if squeeze_a:
        ta = ta.reshape(1, -1)
    if squeeze_b:
        tb = tb.reshape(-1, 1)
    if transpose_a:
        ta = ta.transpose(*range(ta.ndim - 2), ta.ndim - 1, ta.ndim - 2)
    if transpose_b:
        tb = tb.transpose(*range(tb.ndim - 2), tb.ndim - 1, tb.ndim - 2)
    try:
        batch = broadcast_shapes(ta.shape[:-2], tb.shape[:-2])
    except GraphcError:
        batch = None
    if batch is not None:
        an = broadcast_node(ta._node, batch + ta.shape[-2:])
        bn = broadcast_node(tb._node, batch + tb.shape[-2:])
    else:
        an, bn = ta._node, tb._node
    try:
        out = wrap(apply("matmul", [an, bn]))
    except ShapeError:
        flags = "".join(f", {n}=True" for n, f in (("transpose_a", transpose_a),
                                                    ("transpose_b", transpose_b)) if f)
        raise ShapeError(f"matmul: cannot multiply {user_shapes[0]} by {user_shapes[1]}{flags} "
                         f"({user_location()})") from None
    if squeeze_a or squeeze_b:
        shape = out.shape[:-2] + (() if squeeze_a else out.shape[-2:-1]) + \
            (() if squeeze_b else out.shape[-1:])
        out = out.reshape(shape)
    return out


@pins_location
def dot(inp1: Any, inp2: Any) -> Tensor:
    """The dot product of two vectors (MegEngine's ``F.dot``): 1-D tensors of one length,
    or a 0-d one, which broadcasts; a 0-d result. For matrices use :func:`matmul`.

    >>> import graphc
    >>> dot(graphc.tensor([1., 2., 3.]), graphc.tensor([4., 5., 6.])).numpy()
    array(32., dtype=float32)
    """
    a, b = tensor_of(inp1), tensor_of(inp2)
    if a.ndim > 1 or b.ndim > 1 or (a.ndim == b.ndim == 1 and a.shape != b.shape):
        raise ShapeError(f"dot: expected two vectors of one length (or a 0-d operand), got "
                         f"shapes {a.shape} and {b.shape}; use matmul for matrices "
                         f"({user_location()})")
    return sum(a * b)


def norm(inp: Any, ord: float | None = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Vector p-norm over ``axis`` (2-norm by default)."""
    x = tensor_of(inp)
    p = 2.0 if ord is None else float(ord)
    if p == 2.0:
        return sqrt(sum(square(x), axis, keepdims))
    from .elemwise import abs as _abs

    if p == float("inf"):
        return max(_abs(x), axis, keepdims)
    return sum(_abs(x) ** p, axis, keepdims) ** (1.0 / p)


__all__ = ["argmax", "argmin", "dot", "matmul", "max", "mean", "min", "norm", "prod", "std", "sum",
           "var"]
