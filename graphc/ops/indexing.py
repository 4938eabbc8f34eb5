"""Indexing ops that read or write with data: ``index``, ``setitem`` and ``gather``.

An index ``spec`` (an attr) has one entry per position of the user's index tuple, after
``...`` has been expanded and slices normalised:

- ``("s", start, stop, step)`` a slice with ``range`` semantics,
- ``("i", k)`` an integer (already non-negative),
- ``("n",)`` a new axis of size 1,
- ``("a", j)`` an integer index array: input ``j + 1`` (after ``x``; for ``setitem``,
  after ``x`` and the value).

The result shape follows NumPy exactly, including where the broadcast shape of the
index arrays goes when they are not adjacent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, DTypeError, OpError, TensorType
from .movement import as_python_slice, broadcast_shapes, slice_length
from .registry import ShapeError, check_devices, register


def index_result_shape(shape: tuple[int, ...], spec: tuple,
                       array_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The shape of ``x[index]`` for ``x`` of ``shape`` under NumPy's rules."""
    has_arrays = any(e[0] == "a" for e in spec)
    advanced = [p for p, e in enumerate(spec) if e[0] == "a" or (has_arrays and e[0] == "i")]
    bshape = broadcast_shapes(*[array_shapes[e[1]] for e in spec if e[0] == "a"]) \
        if has_arrays else ()
    adjacent = advanced == list(range(advanced[0], advanced[-1] + 1)) if advanced else True
    out: list = []
    axis = 0
    for p, e in enumerate(spec):
        if e[0] == "n":
            out.append(1)
            continue
        if p in advanced:
            if adjacent and p == advanced[0]:
                out.extend(bshape)
        elif e[0] == "s":
            out.append(slice_length(*e[1:]))
        axis += 1
    if axis != len(shape):
        raise ShapeError(f"index has {axis} entries for a tensor of shape {shape}")
    if not adjacent:
        out = list(bshape) + out
    return tuple(out)


def _numpy_index(spec: tuple, arrays: Sequence[np.ndarray]) -> tuple:
    items: list = []
    for e in spec:
        if e[0] == "s":
            items.append(as_python_slice(*e[1:]))
        elif e[0] == "i":
            items.append(e[1])
        elif e[0] == "n":
            items.append(None)
        else:
            items.append(arrays[e[1]])
    return tuple(items)


def _check_arrays(types: Sequence[TensorType]) -> None:
    for t in types:
        if not np.issubdtype(t.dtype, np.integer):
            raise DTypeError(f"index arrays must be integers, got {t.dtype.name}")


def _infer_index(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, *arrays = types
    _check_arrays(arrays)
    check_devices(types)
    return x.with_shape(index_result_shape(x.shape, attrs["spec"], [a.shape for a in arrays]))


def _index_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, *arrays = xs
    try:
        return np.array(x[_numpy_index(attrs["spec"], arrays)])
    except IndexError as err:
        raise OpError(str(err)) from None


register("index", "opaque", _infer_index, _index_reference)


def _infer_setitem(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, value, *arrays = types
    _check_arrays(arrays)
    check_devices(types)
    target = index_result_shape(x.shape, attrs["spec"], [a.shape for a in arrays])
    if value.shape != target or value.dtype != x.dtype:
        raise ShapeError(f"value of shape {value.shape} ({value.dtype.name}) does not match "
                         f"the indexed region {target} ({x.dtype.name})")
    return x


def _writer(write):
    """The reference of an op that writes ``value`` into a copy of ``x`` at an index."""

    def reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
        x, value, *arrays = xs
        out = np.array(x)
        try:
            write(out, _numpy_index(attrs["spec"], arrays), value)
        except IndexError as err:
            raise OpError(str(err)) from None
        return out

    return reference


def _assign(out: np.ndarray, index: tuple, value: np.ndarray) -> None:
    out[index] = value


register("setitem", "opaque", _infer_setitem, _writer(_assign))


def _infer_gather(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, index = types
    axis = attrs["axis"]
    _check_arrays([index])
    check_devices(types)
    if index.ndim != x.ndim or not 0 <= axis < x.ndim or any(
            i != axis and index.shape[i] > x.shape[i] for i in range(x.ndim)):
        raise ShapeError(f"cannot gather {index.shape} indices from {x.shape} along axis {axis}")
    return x.with_shape(index.shape)


def _gather_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, index = xs
    axis = attrs["axis"]
    size = x.shape[axis]
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = index[(index < 0) | (index >= size)].flat[0]
        raise OpError(f"index {bad} is out of bounds for axis {axis} with size {size}")
    region = tuple(slice(0, n) if i != axis else slice(None) for i, n in enumerate(index.shape))
    return np.take_along_axis(x[region], index.astype(np.intp), axis=axis)


register("gather", "opaque", _infer_gather, _gather_reference)


# ---- a bounds check on class labels ------------------------------------------------

def _infer_check_index(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (index,) = types
    _check_arrays([index])
    return index


def _check_index_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    """The labels themselves (a copy: the result must not alias a planned buffer)."""
    (index,) = xs
    size = attrs["size"]
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = index[(index < 0) | (index >= size)].flat[0]
        caller = attrs.get("caller")  # the function the labels were given to
        if caller:
            raise OpError(f"{caller}: class {bad} is out of range for {size} classes "
                          f"(valid: 0 to {size - 1})")
        raise OpError(f"label {bad} is out of bounds for axis {attrs['axis']} with size {size}")
    return np.array(index)


# ``check_index(labels; size, axis[, caller])``: the labels, after checking 0 <= label <
# size (``caller``, the function the user called, names the error). A loss that selects
# with a one-hot mask (which fuses) instead of ``gather``, and ``one_hot``, keep gather's
# bounds check this way: a wrong label is an error, not a silent zero.
register("check_index", "opaque", _infer_check_index, _check_index_reference,
         differentiable=False)


# ---- scatter-add: the adjoint of reading with data ---------------------------------

# Same operands and checks as setitem; duplicate indices accumulate instead of overwriting.
register("scatter_add", "opaque", _infer_setitem, _writer(np.add.at))


def _infer_scatter_add_axis(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, index, value = types
    _check_arrays([index])
    if index.shape != value.shape or value.dtype != x.dtype:
        raise ShapeError(f"index {index.shape} and value {value.shape} must match")
    return x


def _scatter_add_axis_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, index, value = xs
    axis = attrs["axis"]
    out = np.array(x)
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index.astype(np.intp)
    np.add.at(out, tuple(grid), value)
    return out


register("scatter_add_axis", "opaque", _infer_scatter_add_axis, _scatter_add_axis_reference)


# ---- gradients (VJP rules) -------------------------------------------------------

from ..ir import buffer_node, const_node  # noqa: E402
from .build import scalar  # noqa: E402
from .registry import apply, defvjp  # noqa: E402


@defvjp("index")
def _index_vjp(node, g):
    x, *arrays = node.inputs
    grad = apply("scatter_add", [scalar(0, x), g, *arrays], spec=node.attrs["spec"])
    return (grad, *[None] * len(arrays))


@defvjp("setitem")
def _setitem_vjp(node, g):
    x, value, *arrays = node.inputs
    spec = node.attrs["spec"]
    gx = apply("setitem", [g, scalar(0, value), *arrays], spec=spec)
    gv = apply("index", [g, *arrays], spec=spec)
    if arrays:  # repeated indices: only the value element that stays gets a gradient
        gv = apply("where", [_written(node), gv, scalar(0, value)])
    return (gx, gv, *[None] * len(arrays))


def _written(node):
    """Bool mask over ``value`` of a setitem: the elements that end up in the result.

    With repeated indices one write wins (the last one, as in NumPy); the same setitem
    applied to the element numbers finds which, so the mask agrees with the forward op.
    """
    x, value, *arrays = node.inputs
    spec, device = node.attrs["spec"], value.type.device
    ids = np.arange(value.type.size, dtype=np.int32).reshape(value.type.shape)
    ids.flags.writeable = False
    ids_node = buffer_node(ids, device)
    blank = apply("broadcast_to", [const_node(-1, np.int32, device)], shape=x.type.shape)
    slots = apply("setitem", [blank, ids_node, *arrays], spec=spec)
    return apply("equal", [apply("index", [slots, *arrays], spec=spec), ids_node])


@defvjp("scatter_add")
def _scatter_add_vjp(node, g):
    x, value, *arrays = node.inputs
    return (g, apply("index", [g, *arrays], spec=node.attrs["spec"]), *[None] * len(arrays))


@defvjp("gather")
def _gather_vjp(node, g):
    x, index = node.inputs
    return apply("scatter_add_axis", [scalar(0, x), index, g], axis=node.attrs["axis"]), None


@defvjp("scatter_add_axis")
def _scatter_add_axis_vjp(node, g):
    x, index, value = node.inputs
    return g, None, apply("gather", [g, index], axis=node.attrs["axis"])
