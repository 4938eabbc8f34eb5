"""Movement ops: index remaps that fuse into their consumers (no copy unless forced).

``reshape(shape)``, ``transpose(perm)``, ``broadcast_to(shape)`` and
``slice(starts, stops, steps)``; ``stops`` follow ``range`` semantics (a stop of -1 with a
negative step runs to the beginning), so every output length is ``len(range(...))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, TensorType
from .registry import ShapeError, register


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcasting rule, with an error that names the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        dims = {s[i] for s in shapes if len(s) >= -i} - {1}
        if len(dims) > 1:
            raise ShapeError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} "
                             "cannot be broadcast together")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _infer_reshape(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    if any(d < 0 for d in shape) or int(np.prod(shape)) != t.size:
        raise ShapeError(f"cannot reshape {t.shape} ({t.size} elements) into {shape}")
    return t.with_shape(shape)


register("reshape", "movement", _infer_reshape,
         lambda xs, attrs: np.reshape(xs[0], attrs["shape"]))


def _infer_transpose(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(f"invalid permutation {perm} for shape {t.shape}")
    return t.with_shape(tuple(t.shape[p] for p in perm))


register("transpose", "movement", _infer_transpose,
         lambda xs, attrs: np.transpose(xs[0], attrs["perm"]))


def _infer_broadcast(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    ok = len(shape) >= t.ndim and all(
        s == d or s == 1 for s, d in zip(reversed(t.shape), reversed(shape)))
    if not ok:
        raise ShapeError(f"cannot broadcast {t.shape} to {shape}")
    return t.with_shape(shape)


register("broadcast_to", "movement", _infer_broadcast,
         lambda xs, attrs: np.broadcast_to(xs[0], attrs["shape"]))


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


def _slice_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    index = tuple(slice(a, b if b >= 0 else None, s)
                  for a, b, s in zip(attrs["starts"], attrs["stops"], attrs["steps"]))
    return xs[0][index]


register("slice", "movement", _infer_slice, _slice_reference)
