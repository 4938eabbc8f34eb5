"""Operand preparation shared by the functional layer: promotion, broadcasting, errors.

Elementwise ops in the IR take operands of one shape and dtype; this module inserts the
``astype`` and ``broadcast_to`` nodes that make them so, following MegEngine's rules.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from functools import reduce
from typing import Any

import numpy as np

from .. import dtypes
from ..device import get_default_device
from ..ir import GraphcError, Node, const_node, user_location
from ..ops import apply, broadcast_shapes
from ..tensor import Tensor

SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)


def is_scalar(value: Any) -> bool:
    return isinstance(value, SCALARS)


def reraise(op: str, err: GraphcError) -> None:
    """Re-raise a front-end error with the op name and the user's line."""
    raise type(err)(f"{op}: {err} ({user_location()})") from None


def tensor_of(value: Any, device: str | None = None) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return Tensor(value, device=device)


def broadcast_node(node: Node, shape: tuple[int, ...]) -> Node:
    return node if node.type.shape == shape else apply("broadcast_to", [node], shape=shape)


def cast_node(node: Node, dtype: np.dtype) -> Node:
    return node if node.type.dtype == dtype else apply("astype", [node], dtype=dtype.name)


def operands(op: str, values: Sequence[Any], domain: str = "numeric") -> list[Node]:
    """Nodes of ``values`` promoted to one dtype and broadcast to one shape.

    ``domain``: ``"numeric"`` (bool becomes int32), ``"float"`` (ints become float32),
    ``"bool"`` (operands must be bool) or ``"any"``.

    >>> import graphc
    >>> [n.type.shape for n in operands("add", [graphc.tensor([[1.], [2.]]), 1])]
    [(2, 1), (2, 1)]
    """
    fast = _fast_operands(values, domain)
    if fast is not None:
        return fast
    tensors = [v for v in values if isinstance(v, Tensor)]
    device = tensors[0]._node.type.device if tensors else get_default_device()
    vals = [v if isinstance(v, Tensor) or is_scalar(v) else Tensor(v, device=device)
            for v in values]
    tdts = [v.dtype for v in vals if isinstance(v, Tensor)]
    if not tdts:
        vals = [Tensor(v, device=device) for v in vals]
        tdts = [v.dtype for v in vals]
    dtype = reduce(dtypes.promote_types, tdts)
    for v in vals:
        if not isinstance(v, Tensor):
            dtype = dtypes.promote_with_scalar(dtype, v)
    if domain == "bool":
        if any(d != dtypes.bool_ for d in tdts) or any(
                not isinstance(v, (Tensor, bool, np.bool_)) for v in vals):
            raise TypeError(f"{op}: expects bool operands, got "
                            f"{', '.join(_describe(v) for v in vals)} ({user_location()})")
    elif domain == "float":
        dtype = dtypes.to_float(dtype)
    elif domain == "numeric" and dtype == dtypes.bool_:
        dtype = dtypes.int32
    try:
        shape = broadcast_shapes(*[v.shape for v in vals if isinstance(v, Tensor)])
    except GraphcError as err:
        reraise(op, err)
    nodes = []
    for v in vals:
        node = v._node if isinstance(v, Tensor) else const_node(v, dtype, device)
        nodes.append(broadcast_node(cast_node(node, dtype), shape))
    return nodes


# dtype → kind rank (0 bool, 1 integer, 2 floating point) and the domains an operand of
# that dtype may enter as it is (no cast): the per-node fast path's answers.
_KIND: dict[np.dtype, int] = {}
_SCALAR_KIND = {bool: 0, int: 1, float: 2}


def _kind(dtype: np.dtype) -> int:
    kind = _KIND.get(dtype)
    if kind is None:
        kind = _KIND[dtype] = dtypes.kind_rank(dtype)
    return kind


def _accepts(domain: str, kind: int) -> bool:
    if domain == "numeric":
        return kind > 0
    if domain == "float":
        return kind == 2
    return domain == "any" or kind == 0


def _fast_operands(values: Sequence[Any], domain: str) -> list[Node] | None:
    """The common cases without promotion machinery: Tensors of one dtype and device
    (broadcast as needed), or one Tensor with a Python scalar of no higher kind. None
    means: take the general path (casts, conversions, errors)."""
    first = values[0]
    if not isinstance(first, Tensor):
        if len(values) == 2 and type(first) in _SCALAR_KIND and isinstance(values[1], Tensor):
            node = values[1]._node
            t = node.type
            kind = _kind(t.dtype)
            if _SCALAR_KIND[type(first)] <= kind and _accepts(domain, kind):
                return [broadcast_node(const_node(first, t.dtype, t.device), t.shape), node]
        return None
    node = first._node
    t = node.type
    if len(values) == 1:
        return [node] if _accepts(domain, _kind(t.dtype)) else None
    if len(values) == 2 and type(values[1]) in _SCALAR_KIND:
        kind = _kind(t.dtype)
        if _SCALAR_KIND[type(values[1])] <= kind and _accepts(domain, kind):
            return [node, broadcast_node(const_node(values[1], t.dtype, t.device), t.shape)]
        return None
    nodes = [node]
    same_shape = True
    for v in values[1:]:
        if not isinstance(v, Tensor):
            return None
        vt = v._node.type
        if vt is not t:
            if vt.dtype != t.dtype or vt.device != t.device:
                return None
            if vt.shape != t.shape:
                same_shape = False
        nodes.append(v._node)
    if not _accepts(domain, _kind(t.dtype)):
        return None
    if same_shape:
        return nodes
    try:
        shape = broadcast_shapes(*[n.type.shape for n in nodes])
    except GraphcError:
        return None  # the general path raises the error with the op's name
    return [broadcast_node(n, shape) for n in nodes]


def _describe(value: Any) -> str:
    return value.dtype.name if isinstance(value, Tensor) else type(value).__name__


def wrap(node: Node) -> Tensor:
    return Tensor._wrap(node)


_GRAPHC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn_at_user(message: str) -> None:
    """A UserWarning reported at the user's line (the innermost frame outside graphc).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     warn_at_user("careful")
    >>> str(seen[0].message), seen[0].category.__name__
    ('careful', 'UserWarning')
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_GRAPHC_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise _axis_error(op, axis, ndim)
    return axis % ndim if ndim else 0


def _axis_error(op: str, axis: Any, ndim: int) -> Exception:
    from ..ir import ShapeError

    return ShapeError(f"{op}: axis {axis} is out of range for a tensor of {ndim} dimensions "
                      f"({user_location()})")


def normalize_axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """Sorted non-negative axes; ``None`` means all axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = [normalize_axis(op, int(a), ndim) for a in axis]
    else:
        axes = [normalize_axis(op, int(axis), ndim)]
    if len(set(axes)) != len(axes):
        raise _axis_error(op, axis, ndim)
    # A 0-d tensor accepts axis 0 (as NumPy does) and has no axis to reduce.
    return tuple(sorted(axes)) if ndim else ()
