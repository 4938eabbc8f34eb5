"""Ops that assemble or move whole tensors: ``concat`` along an axis and ``to_device``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, TensorType
from .registry import DTypeError, ShapeError, check_devices, register


def _infer_concat(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    axis = attrs["axis"]
    first = types[0]
    check_devices(types)
    if not 0 <= axis < first.ndim:
        raise ShapeError(f"axis {axis} is out of range for shape {first.shape}")
    for t in types[1:]:
        if t.ndim != first.ndim or any(
                a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise ShapeError("shapes " + ", ".join(str(u.shape) for u in types)
                             + f" differ outside axis {axis}")
        if t.dtype != first.dtype:
            raise DTypeError(f"operand dtypes differ: {first.dtype.name} vs {t.dtype.name}")
    total = sum(t.shape[axis] for t in types)
    return first.with_shape(first.shape[:axis] + (total,) + first.shape[axis + 1:])


register("concat", "opaque", _infer_concat,
         lambda xs, attrs: np.concatenate(xs, axis=attrs["axis"]))


def _infer_to_device(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    return TensorType(t.shape, t.dtype, attrs["device"])


register("to_device", "opaque", _infer_to_device, lambda xs, attrs: np.array(xs[0]))


# ---- gradients (VJP rules) -------------------------------------------------------

from .registry import apply, defvjp  # noqa: E402


@defvjp("concat")
def _concat_vjp(node, g):
    axis = node.attrs["axis"]
    grads, start = [], 0
    shape = node.type.shape
    for x in node.inputs:
        n = x.type.shape[axis]
        starts = [0] * len(shape)
        stops = list(shape)
        starts[axis], stops[axis] = start, start + n
        grads.append(apply("slice", [g], starts=starts, stops=stops, steps=[1] * len(shape)))
        start += n
    return tuple(grads)


@defvjp("to_device")
def _to_device_vjp(node, g):
    return (apply("to_device", [g], device=node.inputs[0].type.device),)
