"""Reductions over a set of axes: sum, prod, max, min, argmax, argmin.

``axes`` is a sorted tuple of non-negative axes (the front end normalises it);
``keepdims`` keeps reduced axes as size 1. argmax/argmin reduce exactly one axis and
return int32, as MegEngine does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, TensorType
from .registry import DTypeError, ShapeError, register


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _check_axes(t: TensorType, axes: tuple[int, ...]) -> None:
    if any(a < 0 or a >= t.ndim for a in axes) or len(set(axes)) != len(axes):
        raise ShapeError(f"invalid axes {axes} for shape {t.shape}")


def _infer_reduce(kind: str):
    def infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
        (t,) = types
        axes = attrs["axes"]
        _check_axes(t, axes)
        shape = reduced_shape(t.shape, axes, attrs["keepdims"])
        if kind in ("max", "min", "argmax", "argmin"):
            empty = [d for i, d in enumerate(t.shape) if i in axes and d == 0]
            if empty:
                raise ShapeError(f"cannot reduce over an empty axis of shape {t.shape}")
        if kind in ("argmax", "argmin"):
            if len(axes) != 1:
                raise ShapeError(f"reduces exactly one axis, got {axes}")
            return TensorType(shape, np.dtype(np.int32), t.device)
        if kind in ("sum", "prod") and t.dtype == np.bool_:
            return TensorType(shape, np.dtype(np.int32), t.device)
        if kind in ("sum", "prod") and np.issubdtype(t.dtype, np.integer):
            return TensorType(shape, t.dtype, t.device)
        if t.dtype == np.bool_ and kind in ("max", "min"):
            return TensorType(shape, t.dtype, t.device)
        if not (np.issubdtype(t.dtype, np.number)):
            raise DTypeError(f"cannot reduce dtype {t.dtype.name}")
        return TensorType(shape, t.dtype, t.device)

    return infer


def _reference(fn):
    def reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
        (x,) = xs
        axes = attrs["axes"]
        if fn in (np.argmax, np.argmin):
            out = fn(x, axis=axes[0], keepdims=attrs["keepdims"])
            return out.astype(np.int32)
        return fn(x, axis=axes, keepdims=attrs["keepdims"])

    return reference


for _name, _fn in {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min,
                   "argmax": np.argmax, "argmin": np.argmin}.items():
    register(_name, "reduce", _infer_reduce(_name), _reference(_fn), scalar_op=_name,
             differentiable=_name not in ("argmax", "argmin"))


# ---- gradients (VJP rules) -------------------------------------------------------

from .build import expand_reduced, scalar  # noqa: E402
from .registry import apply, defvjp  # noqa: E402


@defvjp("sum")
def _sum(node, g):
    return (expand_reduced(g, node),)


def _extreme(node, g):
    # The gradient goes to the positions holding the extreme value; ties split it evenly.
    x = node.inputs[0]
    hit = apply("astype", [apply("equal", [x, expand_reduced(node, node)])],
                dtype=x.type.dtype.name)
    count = apply("sum", [hit], axes=node.attrs["axes"], keepdims=True)
    share = apply("div", [hit, apply("broadcast_to", [count], shape=x.type.shape)
                          if count.type.shape != x.type.shape else count])
    return (apply("mul", [share, expand_reduced(g, node)]),)


defvjp("max")(_extreme)
defvjp("min")(_extreme)


@defvjp("prod")
def _prod(node, g):
    # Exact with zeros: with one zero in a reduced slice, only that position gets the
    # product of the others; with several, every gradient there is 0.
    x = node.inputs[0]
    axes = node.attrs["axes"]
    is_zero = apply("equal", [x, scalar(0, x)])
    ones = scalar(1, x)
    nonzero_prod = apply("prod", [apply("where", [is_zero, ones, x])], axes=axes,
                         keepdims=True)
    zeros = apply("sum", [apply("astype", [is_zero], dtype=x.type.dtype.name)], axes=axes,
                  keepdims=True)

    def full(v):
        return v if v.type.shape == x.type.shape else apply("broadcast_to", [v],
                                                            shape=x.type.shape)

    nz_prod, nz_count = full(nonzero_prod), full(zeros)
    zero = scalar(0, x)
    at_zero = apply("where", [apply("equal", [nz_count, ones]), nz_prod, zero])
    elsewhere = apply("where", [apply("equal", [nz_count, zero]),
                                apply("div", [nz_prod, x]), zero])
    local = apply("where", [is_zero, at_zero, elsewhere])
    return (apply("mul", [local, expand_reduced(g, node)]),)
