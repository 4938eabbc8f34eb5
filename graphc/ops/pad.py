"""The ``pad`` op: a movement op whose index map reads the padded input in place.

``pad(x; pads, mode, value)`` with ``pads`` one ``(before, after)`` pair per axis and
``mode`` one of ``"constant"``, ``"reflect"`` (mirror without repeating the edge, NumPy's
``reflect``) or ``"edge"`` (repeat the edge element; MegEngine's ``replicate``).

Its index map clamps (``edge``) or mirrors (``reflect``) each output index into the
input, so a consumer kernel reads the input where it lies and pad costs no copy. For
``constant`` the index map returns a :class:`~graphc.ir.kernel_ir.GuardedIndex`: the
clamped index (always in range, so the read is safe) with a condition that is false
outside the input, where codegen yields ``value`` instead of the read. The VJP is a
slice for ``constant``; for ``edge`` and ``reflect`` the border gradients are folded
back onto the elements they were read from (sums and flipped slices, padded back into
place).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, Node, TensorType
from ..ir.kernel_ir import GuardedIndex, Ix, abs_, all_of, ge, le, lit, max_, min_
from .registry import IndexSize, ShapeError, register

MODES = ("constant", "reflect", "edge")


def fill_value(value: object, dtype: np.dtype) -> bool | int | float:
    """``value`` as the Python scalar of ``dtype``'s kind (the ``value`` attr of a
    constant pad: hashable, and rendered as a typed literal)."""
    out = np.asarray(value).astype(dtype).item()
    # One NaN object, so attrs holding it compare equal (structural keys, hash-consing).
    return math.nan if out != out else out


def _infer_pad(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (t,) = types
    pads, mode = attrs["pads"], attrs["mode"]
    if mode not in MODES:
        raise ShapeError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if len(pads) != t.ndim:
        raise ShapeError(f"needs one (before, after) pair per axis of {t.shape}, got {pads}")
    out = []
    for axis, ((before, after), n) in enumerate(zip(pads, t.shape)):
        if before < 0 or after < 0:
            raise ShapeError(f"negative pad width {(before, after)} for axis {axis}")
        if (before or after) and n == 0:
            raise ShapeError(f"cannot pad axis {axis} of size 0 in shape {t.shape}")
        if mode == "reflect" and max(before, after) >= n and (before or after):
            raise ShapeError(f"reflect pad widths {(before, after)} must be smaller than "
                             f"the size {n} of axis {axis} (shape {t.shape})")
        out.append(before + n + after)
    return t.with_shape(tuple(out))


def _pad_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x = xs[0]
    if attrs["mode"] == "constant":
        return np.pad(x, attrs["pads"], mode="constant",
                      constant_values=np.asarray(attrs["value"]).astype(x.dtype))
    return np.pad(x, attrs["pads"], mode=attrs["mode"])


def _pad_map(in_type: TensorType, out_type: TensorType, attrs: Attrs,
             out_index: tuple[Ix, ...], size: IndexSize) -> tuple[Ix, ...]:
    """Per padded axis, ``j = index - before`` is the position in the input: clamped
    into ``[0, n - 1]`` (edge, and the safe read of constant) or mirrored at both ends
    (reflect); a constant pad is guarded by ``index >= before and j <= n - 1``."""
    mode = attrs["mode"]
    result, conditions = [], []
    for idx, (before, after), n in zip(out_index, attrs["pads"], in_type.shape):
        if not before and not after:
            result.append(idx)
            continue
        j = idx - before
        if n == 1:  # every read is of element 0 (reflect allows no padding here)
            result.append(lit(0))
            last = lit(0)
        else:
            last = size(n) - 1
            if mode == "reflect":
                k = abs_(j) if before else j
                result.append(last - abs_(last - k) if after else k)
            else:
                k = max_(j, 0) if before else j
                result.append(min_(k, last) if after else k)
        if mode == "constant":
            if before:
                conditions.append(ge(idx, before))
            if after:
                conditions.append(le(j, last))
    if conditions:
        return GuardedIndex(result, all_of(conditions), attrs["value"])
    return tuple(result)


register("pad", "movement", _infer_pad, _pad_reference, index_map=_pad_map)


# ---- gradients (VJP rule) --------------------------------------------------------

from .registry import apply, defvjp  # noqa: E402


def _slice_axis(g: Node, axis: int, start: int, stop: int, step: int = 1) -> Node:
    shape = g.type.shape
    starts = [0] * len(shape)
    stops = list(shape)
    steps = [1] * len(shape)
    starts[axis], stops[axis], steps[axis] = start, stop, step
    return apply("slice", [g], starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))


def pad_axis(g: Node, axis: int, before: int, after: int) -> Node:
    """``g`` zero-padded by ``(before, after)`` along ``axis`` only."""
    if not before and not after:
        return g
    pads = tuple((before, after) if k == axis else (0, 0) for k in range(g.type.ndim))
    return apply("pad", [g], pads=pads, mode="constant", value=fill_value(0, g.type.dtype))


def _fold_axis(g: Node, axis: int, before: int, after: int, n: int, mode: str) -> Node:
    """The gradient of one axis' padding: ``g`` (padded along ``axis``) folded back to
    the ``n`` input elements it was read from."""
    out = _slice_axis(g, axis, before, before + n)
    if mode == "constant":
        return out
    parts = []
    if mode == "edge":
        if before:
            edge = apply("sum", [_slice_axis(g, axis, 0, before)], axes=(axis,), keepdims=True)
            parts.append(pad_axis(edge, axis, 0, n - 1))
        if after:
            edge = apply("sum", [_slice_axis(g, axis, before + n, before + n + after)],
                         axes=(axis,), keepdims=True)
            parts.append(pad_axis(edge, axis, n - 1, 0))
    else:  # reflect: output before - k reads input k; output before + n - 1 + k reads n-1-k
        if before:
            parts.append(pad_axis(_slice_axis(g, axis, before - 1, -1, -1), axis, 1,
                                  n - 1 - before))
        if after:
            stop = before + n + after
            parts.append(pad_axis(_slice_axis(g, axis, stop - 1, before + n - 1, -1), axis,
                                  n - 1 - after, 1))
    for part in parts:
        out = apply("add", [out, part])
    return out


@defvjp("pad")
def _pad_vjp(node, g):
    (x,) = node.inputs
    mode = node.attrs["mode"]
    for axis, ((before, after), n) in enumerate(zip(node.attrs["pads"], x.type.shape)):
        if before or after:
            g = _fold_axis(g, axis, before, after, n, mode)
    return (g,)
