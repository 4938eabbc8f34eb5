"""Creation, shape and joining functions.

>>> import graphc.functional as F
>>> F.stack([F.zeros(2), F.ones(2)]).numpy()
array([[0., 0.],
       [1., 1.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dtypes
from ..device import canonical_device, check_available
from ..ir import ShapeError, const_node, user_location
from ..ops import apply
from ..tensor import Tensor
from ._operands import broadcast_node, normalize_axis, operands, tensor_of, wrap


def _shape_arg(op: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, Tensor):
        shape = shape.numpy()
    if isinstance(shape, np.ndarray):
        shape = shape.tolist()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        return tuple(int(d) if d is not None else None for d in shape)
    except TypeError:
        raise TypeError(f"{op}: a shape must be an int or a sequence of ints, got {shape!r} "
                        f"({user_location()})") from None


def _error(op: str, msg: str) -> ShapeError:
    return ShapeError(f"{op}: {msg} ({user_location()})")


# ---- creation -------------------------------------------------------------------

def full(shape: Any, value: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value`` (no memory until realized).

    ``shape`` is an int, a list or tuple (``x.shape``), an array or a 1-D Tensor;
    ``value`` a scalar or a 0-d Tensor.

    >>> import graphc
    >>> full([2, 1], 7).numpy().tolist(), full(graphc.tensor([1, 2]), 0.5).shape
    ([[7], [7]], (1, 2))
    """
    shape = _shape_arg("full", shape)
    if any(d is None or d < 0 for d in shape):
        raise _error("full", f"negative or unknown dimension in shape {shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise _error("full", f"the fill value must be a scalar or a 0-d Tensor, got a "
                         f"Tensor of shape {value.shape}")
        filler = value if dtype is None else value.astype(dtype)
        if device is not None:
            filler = copy(filler, device)
        return wrap(broadcast_node(filler._node, shape))
    dtype = dtypes.canonical(dtype) if dtype is not None else dtypes.scalar_dtype(value)
    dev = canonical_device(device)
    check_available(dev)
    return wrap(broadcast_node(const_node(value, dtype, dev), shape))


def zeros(shape: Any, dtype: Any = "float32", device: Any = None) -> Tensor:
    """A tensor of zeros (float32 by default)."""
    return full(shape, 0, dtype, device)


def ones(shape: Any, dtype: Any = "float32", device: Any = None) -> Tensor:
    """A tensor of ones (float32 by default)."""
    return full(shape, 1, dtype, device)


def full_like(inp: Any, value: Any) -> Tensor:
    x = tensor_of(inp)
    return full(x.shape, value, x.dtype, x._node.type.device)


def zeros_like(inp: Any) -> Tensor:
    return full_like(inp, 0)


def ones_like(inp: Any) -> Tensor:
    return full_like(inp, 1)


def arange(start: float = 0, stop: float | None = None, step: float = 1, dtype: Any = "float32",
           device: Any = None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; float32 by default, as in MegEngine."""
    if stop is None:
        start, stop = 0, start
    return Tensor(np.arange(start, stop, step, dtype=dtypes.canonical(dtype)), device=device)


def linspace(start: float, stop: float, num: int, dtype: Any = "float32",
             device: Any = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive."""
    values = np.linspace(start, stop, int(num)).astype(dtypes.canonical(dtype))
    return Tensor(values, device=device)


def eye(N: Any, M: Any = None, dtype: Any = "float32", device: Any = None) -> Tensor:
    """The identity matrix (ones on the diagonal) of ``N`` rows and ``M`` columns (``N``
    by default). As in MegEngine, ``N`` may also be the whole shape: a list or tuple
    (``x.shape``) or a Tensor of one or two sizes.

    >>> import graphc
    >>> eye(2).numpy().tolist(), eye([2, 3]).shape, eye(zeros((3, 1)).shape).shape
    ([[1.0, 0.0], [0.0, 1.0]], (2, 3), (3, 1))
    """
    if M is None and not isinstance(N, (int, np.integer)):
        shape = _shape_arg("eye", N)
        if len(shape) not in (1, 2):
            raise _error("eye", f"the shape must have one or two sizes, got {shape}")
        N, M = shape if len(shape) == 2 else (shape[0], None)
    rows, cols = _size_arg("eye", N), None if M is None else _size_arg("eye", M)
    if rows < 0 or (cols is not None and cols < 0):
        raise _error("eye", f"negative size in ({rows}, {cols})")
    return Tensor(np.eye(rows, cols, dtype=dtypes.canonical(dtype)), device=device)


def _size_arg(op: str, size: Any) -> int:
    """One size given as an int, a NumPy integer or a 0-d Tensor."""
    if isinstance(size, Tensor) and size.ndim == 0:
        size = size.item()
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise TypeError(f"{op}: a size must be an int or a 0-d Tensor, got {size!r} "
                        f"({user_location()})")
    return int(size)


def copy(inp: Any, device: Any = None) -> Tensor:
    """A copy of ``inp``, on ``device`` when given."""
    x = tensor_of(inp)
    if device is None:
        return wrap(apply("copy", [x._node]))
    dev = canonical_device(device)
    check_available(dev)
    if dev == x._node.type.device:
        return wrap(apply("copy", [x._node]))
    return wrap(apply("to_device", [x._node], device=dev))


# ---- shape ----------------------------------------------------------------------

def reshape(inp: Any, target_shape: Any) -> Tensor:
    """``inp`` with a new shape; one dimension may be -1 (inferred)."""
    x = tensor_of(inp)
    shape = list(_shape_arg("reshape", target_shape))
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1:
        raise _error("reshape", f"only one dimension can be -1, got {tuple(shape)}")
    if unknown:
        known = int(np.prod([d for d in shape if d != -1]))
        if known == 0 or x.size % known:
            raise _error("reshape", f"cannot reshape {x.shape} into {tuple(shape)}")
        shape[unknown[0]] = x.size // known
    shape = tuple(shape)
    if shape == x.shape:
        return wrap(x._node)
    return wrap(apply("reshape", [x._node], shape=shape))


def transpose(inp: Any, pattern: Sequence[Any]) -> Tensor:
    """Permute axes; ``'x'`` in ``pattern`` inserts a new axis (MegEngine's dimshuffle)."""
    x = tensor_of(inp)
    pattern = tuple(pattern)
    perm = tuple(int(p) % x.ndim if x.ndim else 0 for p in pattern if p != "x")
    if sorted(perm) != list(range(x.ndim)):
        raise _error("transpose", f"invalid pattern {pattern} for shape {x.shape}")
    # Always a new handle: an in-place op on the result must not rebind inp.
    out = wrap(x._node) if perm == tuple(range(x.ndim)) else \
        wrap(apply("transpose", [x._node], perm=perm))
    if "x" in pattern:
        out = out.reshape(tuple(1 if p == "x" else x.shape[int(p)] for p in pattern))
    return out


def broadcast_to(inp: Any, shape: Any) -> Tensor:
    """Broadcast to ``shape``; a ``None`` entry keeps that dimension."""
    x = tensor_of(inp)
    shape = _shape_arg("broadcast_to", shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise _error("broadcast_to", f"cannot broadcast {x.shape} to {shape}")
    full_shape = []
    for i, d in enumerate(shape):
        if d is None:
            if i < lead:
                raise ValueError(f"broadcast_to: None at axis {i} has no matching input axis")
            d = x.shape[i - lead]
        if d < 0:
            raise ValueError(f"broadcast_to: negative dimension in {shape}")
        full_shape.append(d)
    return wrap(broadcast_node(x._node, tuple(full_shape)))


def expand_dims(inp: Any, axis: Any) -> Tensor:
    """Insert size-1 axes at ``axis`` (an int or tuple; negative counts from the end)."""
    x = tensor_of(inp)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    ndim = x.ndim + len(axes)
    norm = sorted(normalize_axis("expand_dims", int(a), ndim) for a in axes)
    shape = list(x.shape)
    for a in norm:
        shape.insert(a, 1)
    return x.reshape(tuple(shape))


def squeeze(inp: Any, axis: Any = None) -> Tensor:
    """Remove size-1 axes (all of them, or those in ``axis``)."""
    x = tensor_of(inp)
    if axis is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    else:
        axes = [normalize_axis("squeeze", int(a), x.ndim)
                for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
        for a in axes:
            if x.shape[a] != 1:
                raise _error("squeeze", f"cannot squeeze axis {a} of size {x.shape[a]} "
                             f"in shape {x.shape}")
    return x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes))


def flatten(inp: Any, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge axes ``start_axis..end_axis`` (inclusive) into one."""
    x = tensor_of(inp)
    if x.ndim == 0:
        return x.reshape(1)
    s = normalize_axis("flatten", start_axis, x.ndim)
    e = normalize_axis("flatten", end_axis, x.ndim)
    merged = int(np.prod(x.shape[s:e + 1]))
    return x.reshape(x.shape[:s] + (merged,) + x.shape[e + 1:])


# ---- joining and splitting ------------------------------------------------------

def _join_operands(op: str, inps: Sequence[Any]) -> list[Tensor]:
    """``inps`` as Tensors; Python scalars, arrays and lists are placed on the device of
    the first Tensor among them (the default device when there is none)."""
    if isinstance(inps, Tensor) or not isinstance(inps, Sequence) or not inps:
        raise ValueError(f"{op}: expects a non-empty list of tensors, got {inps!r} "
                         f"({user_location()})")
    device = next((t._node.type.device for t in inps if isinstance(t, Tensor)), None)
    return [tensor_of(t, device) for t in inps]


def concat(inps: Sequence[Any], axis: int = 0, device: Any = None) -> Tensor:
    """Join tensors along an existing axis; one tensor is returned as it is.

    As in MegEngine, a Python scalar or 0-d tensor among several operands is joined as
    shape ``(1,)``: ``F.concat([x.shape[:-1], 64])`` appends a size to a shape tensor.

    >>> import graphc
    >>> concat([graphc.tensor([2, 3]), 4, graphc.tensor(5)]).numpy().tolist()
    [2, 3, 4, 5]
    """
    tensors = _join_operands("concat", inps)
    if len(tensors) == 1:
        return tensors[0]
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    devices = {t._node.type.device for t in tensors}
    if device is not None:
        tensors = [t if t._node.type.device == canonical_device(device) else copy(t, device)
                   for t in tensors]
    elif len(devices) > 1:
        raise RuntimeError(f"concat: tensors are on different devices {sorted(devices)}; "
                           f"pass device= ({user_location()})")
    nodes = operands("concat", tensors, "any") if len({t.dtype for t in tensors}) > 1 else None
    if nodes is not None:  # operands also broadcasts; keep only the casts
        tensors = [t.astype(wrap(nodes[0]).dtype) for t in tensors]
    a = normalize_axis("concat", axis, tensors[0].ndim)
    return wrap(apply("concat", [t._node for t in tensors], axis=a))


def stack(inps: Sequence[Any], axis: int = 0, device: Any = None) -> Tensor:
    """Join tensors of one shape along a new axis (Python scalars count as 0-d).

    >>> import graphc
    >>> stack([graphc.tensor(1.5), 2]).numpy().tolist()
    [1.5, 2.0]
    """
    tensors = _join_operands("stack", inps)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise _error("stack", f"tensors must have one shape, got {sorted(shapes)}")
    a = normalize_axis("stack", axis, tensors[0].ndim + 1)
    return concat([expand_dims(t, a) for t in tensors], a, device)


def split(inp: Any, nsplits_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split along ``axis`` with MegEngine's ``nsplits_or_sections``: an int ``n`` gives
    ``n`` near-equal pieces (the first ``size % n`` one longer, as ``np.array_split``);
    a list gives the split points (non-decreasing, within ``[0, size]``: a repeated
    point makes an empty piece).

    >>> import graphc
    >>> [p.numpy().tolist() for p in split(graphc.tensor([1, 2, 3, 4, 5]), 2)]
    [[1, 2, 3], [4, 5]]
    >>> [p.shape for p in split(zeros((6, 2)), [1, 4])]
    [(1, 2), (3, 2), (2, 2)]
    """
    x = tensor_of(inp)
    a = normalize_axis("split", axis, x.ndim)
    total = x.shape[a]
    if isinstance(nsplits_or_sections, (int, np.integer)):
        n = int(nsplits_or_sections)
        if n <= 0:
            raise ValueError(f"split: the number of sections must be positive, got {n} "
                             f"({user_location()})")
        if n > total:
            raise ValueError(f"split: the size {total} of axis {a} cannot be split into {n} "
                             f"sections ({user_location()})")
        sizes = [(total + n - i - 1) // n for i in range(n)]  # MegEngine's section sizes
        points = list(np.cumsum(sizes[:-1]))
    else:
        points = [int(p) for p in nsplits_or_sections]
        bounds = [0, *points, total]
        if any(lo > hi for lo, hi in zip(bounds, bounds[1:])):
            raise ValueError(f"Invalid nsplits_or_secions: {list(nsplits_or_sections)}")
    bounds = [0, *points, total]
    pieces = []
    for lo, hi in zip(bounds, bounds[1:]):
        index = tuple(slice(None) for _ in range(a)) + (slice(int(lo), int(hi)),)
        pieces.append(x[index])
    return pieces


def gather(inp: Any, axis: int, index: Any) -> Tensor:
    """``out[..., i, ...] = inp[..., index[..., i, ...], ...]`` along ``axis``."""
    x = tensor_of(inp)
    idx = tensor_of(index, x._node.type.device)
    a = normalize_axis("gather", axis, x.ndim)
    return wrap(apply("gather", [x._node, idx._node], axis=a))


def diag(inp: Any, k: int = 0) -> Tensor:
    """A 1-D input becomes a square matrix with it on diagonal ``k``; a 2-D input gives
    its diagonal ``k``.

    >>> import graphc
    >>> diag(graphc.tensor([1, 2])).numpy().tolist()
    [[1, 0], [0, 2]]
    """
    x = tensor_of(inp)
    dev = x._node.type.device
    r0, c0 = (0, k) if k >= 0 else (-k, 0)
    if x.ndim == 1:
        n = x.shape[0] + abs(k)
        rows = np.arange(x.shape[0], dtype=np.int32) + r0
        out = zeros((n, n), x.dtype, dev)
        out[Tensor(rows, device=dev), Tensor(rows - r0 + c0, device=dev)] = x
        return out
    if x.ndim == 2:
        length = max(0, min(x.shape[0] - r0, x.shape[1] - c0))
        rows = np.arange(length, dtype=np.int32) + r0
        return x[Tensor(rows, device=dev), Tensor(rows - r0 + c0, device=dev)]
    raise _error("diag", f"expects a 1-D or 2-D tensor, got shape {x.shape}")
