"""NumPy-style indexing for Tensors: parse a user's key into an index spec.

Basic keys (ints, slices, None, ...) lower to movement ops (``slice`` + ``reshape``),
which fuse. Keys with integer arrays, lists or Tensors become one ``index`` node, and
``__setitem__`` becomes one ``setitem`` node. A boolean mask selects a data-dependent
number of elements, so graphc realizes the mask and indexes with its ``nonzero``
positions (an error under ``@graphc.jit``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ir import Node, buffer_node
from .ops import apply
from .ops.indexing import index_result_shape

# Hooks for operations whose output shape depends on data (tracing refuses them).
data_dependent_hooks: list = []


def _consumed_dims(item: Any) -> int:
    if item is None:
        return 0
    if isinstance(item, (bool, np.bool_)):
        raise IndexError("boolean scalar indices are not supported")
    if _is_array_like(item):
        dtype = _array_dtype(item)
        return max(np.ndim(item) if not hasattr(item, "ndim") else item.ndim, 1) \
            if dtype == np.bool_ else 1
    return 1


def _is_array_like(item: Any) -> bool:
    from .tensor import Tensor

    return isinstance(item, (list, np.ndarray, Tensor))


def _array_dtype(item: Any) -> np.dtype:
    from .tensor import Tensor

    if isinstance(item, Tensor):
        return item.dtype
    arr = np.asarray(item)
    if arr.size == 0 and arr.dtype == np.float64:
        return np.dtype(np.int32)  # [] indexes nothing
    return arr.dtype


def _index_node(item: Any, device: str, axis: int, size: int) -> Node:
    from .tensor import Tensor

    if isinstance(item, Tensor):
        return item._node  # its values are checked when the index runs
    arr = np.asarray(item)
    if arr.size == 0:
        arr = arr.astype(np.int32)
    if not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(f"arrays used as indices must be integers or booleans, got {arr.dtype}")
    bad = arr[(arr < -size) | (arr >= size)]
    if bad.size:
        raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} with size {size}")
    if arr.dtype == np.int64 and (arr.size == 0 or abs(arr).max() < 2**31):
        arr = arr.astype(np.int32)
    arr = np.array(arr, order="C")
    arr.flags.writeable = False
    return buffer_node(arr, device)


def _mask_positions(item: Any, dims: tuple[int, ...]) -> list[np.ndarray]:
    from .tensor import Tensor

    for hook in data_dependent_hooks:
        hook("boolean-mask indexing")
    mask = item.numpy() if isinstance(item, Tensor) else np.asarray(item, dtype=bool)
    if mask.shape != dims:
        raise IndexError(f"boolean index of shape {mask.shape} does not match the indexed "
                         f"dimensions {dims}")
    return [p.astype(np.int32) for p in np.nonzero(mask)]


def _slice_entry(item: slice, size: int) -> tuple:
    """``("s", start, stop, step)`` with range semantics; an empty slice is ``0:0:1``
    (``slice.indices`` may give a start of -1 there, which would read from the end)."""
    start, stop, step = item.indices(size)
    if not len(range(start, stop, step)):
        return ("s", 0, 0, 1)
    return ("s", start, stop, step)


def parse_key(shape: tuple[int, ...], key: Any, device: str) -> tuple[tuple, list[Node]]:
    """The index spec and index-array nodes of ``x[key]`` for ``x`` of ``shape``."""
    items = list(key) if isinstance(key, tuple) else [key]
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(_consumed_dims(i) for i in items if i is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"too many indices for a tensor of shape {shape}: {used} were given")
    spec: list[tuple] = []
    arrays: list[Node] = []
    axis = 0
    for item in items:
        if item is Ellipsis:
            for _ in range(len(shape) - used):
                spec.append(("s", *slice(None).indices(shape[axis])))
                axis += 1
        elif item is None:
            spec.append(("n",))
        elif isinstance(item, slice):
            spec.append(_slice_entry(item, shape[axis]))
            axis += 1
        elif _is_array_like(item) and _array_dtype(item) == np.bool_:
            ndim = _consumed_dims(item)
            for pos in _mask_positions(item, shape[axis:axis + ndim]):
                pos.flags.writeable = False
                spec.append(("a", len(arrays)))
                arrays.append(buffer_node(pos, device))
            axis += ndim
        elif _is_array_like(item):
            spec.append(("a", len(arrays)))
            arrays.append(_index_node(item, device, axis, shape[axis]))
            axis += 1
        else:
            try:
                i = int(item.__index__())
            except (AttributeError, TypeError):
                raise IndexError(f"only integers, slices, None, ..., integer or boolean arrays "
                                 f"and Tensors are valid indices, got {item!r}") from None
            if not -shape[axis] <= i < shape[axis]:
                raise IndexError(f"index {i} is out of bounds for axis {axis} "
                                 f"with size {shape[axis]}")
            spec.append(("i", i % shape[axis]))
            axis += 1
    while axis < len(shape):
        spec.append(("s", *slice(None).indices(shape[axis])))
        axis += 1
    return tuple(spec), arrays


def getitem(node: Node, key: Any) -> Node:
    """The node of ``x[key]``."""
    spec, arrays = parse_key(node.type.shape, key, node.type.device)
    if arrays:
        return apply("index", [node, *arrays], spec=spec)
    starts, stops, steps = [], [], []
    for e in spec:
        if e[0] == "s":
            starts.append(e[1]), stops.append(e[2]), steps.append(e[3])
        elif e[0] == "i":
            starts.append(e[1]), stops.append(e[1] + 1), steps.append(1)
    out = node
    full = all(a == 0 and b == d and s == 1
               for a, b, s, d in zip(starts, stops, steps, node.type.shape))
    if not full:
        out = apply("slice", [out], starts=starts, stops=stops, steps=steps)
    target = index_result_shape(node.type.shape, spec, [])
    if target != out.type.shape:
        out = apply("reshape", [out], shape=target)
    return out


def indexed_shape(node: Node, key: Any) -> tuple[tuple, list[Node], tuple[int, ...]]:
    """Spec, index arrays and the shape of the region ``x[key]`` refers to."""
    spec, arrays = parse_key(node.type.shape, key, node.type.device)
    shape = index_result_shape(node.type.shape, spec, [a.type.shape for a in arrays])
    return spec, arrays, shape


def setitem(node: Node, key: Any, value: Node) -> Node:
    """The node of ``x`` after ``x[key] = value``; ``value`` already has x's dtype."""
    from .ops import broadcast_shapes

    spec, arrays, shape = indexed_shape(node, key)
    vshape = value.type.shape
    try:
        ok = broadcast_shapes(vshape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"setitem: cannot assign a value of shape {vshape} to a region of "
                         f"shape {shape}")
    if vshape != shape:
        value = apply("broadcast_to", [value], shape=shape)
    return apply("setitem", [node, value, *arrays], spec=spec)
