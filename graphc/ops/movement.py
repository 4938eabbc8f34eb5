"""Movement ops: index remaps that fuse into their consumers (no copy unless forced).

``reshape(shape)``, ``transpose(perm)``, ``broadcast_to(shape)`` and
``slice(starts, stops, steps)``; ``stops`` follow ``range`` semantics (a stop of -1 with a
negative step runs to the beginning), so every output length is ``len(range(...))``.

Each op declares an index map ``index_map(in_type, out_type, attrs, out_index, size)``:
given the index expressions (:class:`~graphc.ir.kernel_ir.Ix` trees) of one output
element, it returns the index expressions of the input element it reads, built with the
kernel IR's constructors (never as source text: a backend prints them). ``size(n)``
turns a dimension size into an expression (a size parameter), so that generated kernels
take sizes as runtime arguments instead of baking them in; only whether a dimension is
1 (the broadcast pattern) is structural.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, TensorType
from ..ir.kernel_ir import Ix, lit
from .registry import IndexSize, ShapeError, register


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcasting rule, with an error that names the shapes.

    >>> broadcast_shapes((16, 1), (10,))
    (16, 10)
    """
    if len(shapes) == 2 and shapes[0] == shapes[1]:
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        dim = 1
        for s in shapes:
            if len(s) >= -i:
                d = s[i]
                if d != 1:
                    if dim != 1 and d != dim:
                        raise ShapeError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} "
                                         "cannot be broadcast together")
                    dim = d
        out.append(dim)
    return tuple(out)


def _infer_reshape(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    if any(d < 0 for d in shape) or int(np.prod(shape)) != t.size:
        raise ShapeError(f"cannot reshape {t.shape} ({t.size} elements) into {shape}")
    return t.with_shape(shape)


def _reshape_groups(ins: tuple[int, ...], outs: tuple[int, ...]) -> list[tuple[list, list]]:
    """Split two shapes of equal size into aligned groups of axes with equal products."""
    groups: list[tuple[list, list]] = []
    i = j = 0
    while i < len(ins) or j < len(outs):
        gi, gj = [], []
        pi = pj = 1
        while True:
            if pi <= pj and i < len(ins) and (not gi or pi < pj or ins[i] == 1):
                pi *= ins[i]
                gi.append(i)
                i += 1
            elif j < len(outs) and (not gj or pj < pi or outs[j] == 1):
                pj *= outs[j]
                gj.append(j)
                j += 1
            else:
                break
            if pi == pj and gi and gj and not (i < len(ins) and ins[i] == 1) and not (
                    j < len(outs) and outs[j] == 1):
                break
        groups.append((gi, gj))
    return groups


def _reshape_map(in_type: TensorType, out_type: TensorType, attrs: Attrs,
                 out_index: tuple[Ix, ...], size: IndexSize) -> tuple[Ix, ...]:
    """Within each group of axes of equal size, the output index is linearised and
    split again by the input's extents (one axis to one axis passes through)."""
    ins, outs = in_type.shape, out_type.shape
    result = [lit(0)] * len(ins)
    for gi, gj in _reshape_groups(ins, outs):
        src = [j for j in gj if outs[j] != 1]
        dst = [i for i in gi if ins[i] != 1]
        if not dst:
            continue
        if len(src) == 1 and len(dst) == 1:
            result[dst[0]] = out_index[src[0]]
            continue
        linear = lit(0)
        for j in src:  # while the sum is 0 the next index starts it (no size parameter)
            linear = out_index[j] if linear == lit(0) else linear * size(outs[j]) + out_index[j]
        for k, i in enumerate(dst):
            strides = [size(ins[m]) for m in dst[k + 1:]]
            # math.prod starts from the int 1, which the Ix product folds away
            part = linear // math.prod(strides) if strides else linear
            result[i] = part % size(ins[i]) if k else part
    return tuple(result)


register("reshape", "movement", _infer_reshape,
         lambda xs, attrs: np.reshape(xs[0], attrs["shape"]), index_map=_reshape_map)


def _infer_transpose(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(f"invalid permutation {perm} for shape {t.shape}")
    return t.with_shape(tuple(t.shape[p] for p in perm))


def _transpose_map(in_type: TensorType, out_type: TensorType, attrs: Attrs,
                   out_index: tuple[Ix, ...], size: IndexSize) -> tuple[Ix, ...]:
    result = list(out_index)
    for j, p in enumerate(attrs["perm"]):
        result[p] = out_index[j]
    return tuple(result)


register("transpose", "movement", _infer_transpose,
         lambda xs, attrs: np.transpose(xs[0], attrs["perm"]), index_map=_transpose_map)


def _infer_broadcast(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    ok = len(shape) >= t.ndim and all(
        s == d or s == 1 for s, d in zip(reversed(t.shape), reversed(shape)))
    if not ok:
        raise ShapeError(f"cannot broadcast {t.shape} to {shape}")
    return t.with_shape(shape)


def _broadcast_map(in_type: TensorType, out_type: TensorType, attrs: Attrs,
                   out_index: tuple[Ix, ...], size: IndexSize) -> tuple[Ix, ...]:
    lead = out_type.ndim - in_type.ndim
    return tuple(lit(0) if d == 1 and out_type.shape[lead + k] != 1 else out_index[lead + k]
                 for k, d in enumerate(in_type.shape))


register("broadcast_to", "movement", _infer_broadcast,
         lambda xs, attrs: np.broadcast_to(xs[0], attrs["shape"]), index_map=_broadcast_map)


def slice_length(start: int, stop: int, step: int) -> int:
    return len(range(start, stop, step))


def _infer_slice(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    starts, stops, steps = attrs["starts"], attrs["stops"], attrs["steps"]
    if not len(starts) == len(stops) == len(steps) == t.ndim:
        raise ShapeError(f"slice needs one (start, stop, step) per axis of {t.shape}")
    shape = []
    for d, a, b, s in zip(t.shape, starts, stops, steps):
        if s == 0:
            raise ShapeError("slice step cannot be zero")
        n = slice_length(a, b, s)
        if n and not (0 <= a < d and -1 <= a + (n - 1) * s < d):
            raise ShapeError(f"slice {a}:{b}:{s} out of range for an axis of size {d}")
        shape.append(n)
    return t.with_shape(tuple(shape))


def as_python_slice(start: int, stop: int, step: int) -> slice:
    """The Python slice selecting ``range(start, stop, step)`` (a stop of -1 with a
    negative step means "through index 0", which Python spells ``None``)."""
    if not slice_length(start, stop, step):
        return slice(0, 0, 1)
    return slice(start, stop if stop >= 0 else None, step)


def _slice_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    index = tuple(as_python_slice(a, b, s)
                  for a, b, s in zip(attrs["starts"], attrs["stops"], attrs["steps"]))
    return xs[0][index]


def _slice_map(in_type: TensorType, out_type: TensorType, attrs: Attrs,
               out_index: tuple[Ix, ...], size: IndexSize) -> tuple[Ix, ...]:
    # start + step * index; a start of 0 and a step of 1 fold away (see kernel_ir.add)
    return tuple(a + s * idx for idx, a, s in zip(out_index, attrs["starts"], attrs["steps"]))


register("slice", "movement", _infer_slice, _slice_reference, index_map=_slice_map)


# ---- gradients (VJP rules) -------------------------------------------------------

from .build import scalar, sum_to  # noqa: E402
from .registry import apply, defvjp  # noqa: E402


@defvjp("reshape")
def _reshape_vjp(node, g):
    return (apply("reshape", [g], shape=node.inputs[0].type.shape),)


@defvjp("transpose")
def _transpose_vjp(node, g):
    perm = node.attrs["perm"]
    inverse = tuple(sorted(range(len(perm)), key=lambda k: perm[k]))
    if g.op == "transpose" and g.inputs and g.attrs["perm"] == perm:
        return (g.inputs[0],)  # transposing back a pending transpose: its input
    return (apply("transpose", [g], perm=inverse),)


@defvjp("broadcast_to")
def _broadcast_vjp(node, g):
    return (sum_to(g, node.inputs[0].type.shape),)


@defvjp("slice")
def _slice_vjp(node, g):
    x = node.inputs[0]
    spec = tuple(("s", a, b, s) for a, b, s in
                 zip(node.attrs["starts"], node.attrs["stops"], node.attrs["steps"]))
    return (apply("setitem", [scalar(0, x), g], spec=spec),)
