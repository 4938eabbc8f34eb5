"""Node-level builders shared by VJP rules: constants shaped like a node, sums that
undo broadcasting, and expansion of reduced values back over their axes."""

from __future__ import annotations

from ..ir import Node, const_node
from .registry import apply


def scalar(value: float, like: Node) -> Node:
    """The constant ``value`` with ``like``'s dtype, broadcast to ``like``'s shape."""
    c = const_node(value, like.type.dtype, like.type.device)
    return c if like.type.shape == () else apply("broadcast_to", [c], shape=like.type.shape)


def sum_to(g: Node, shape: tuple[int, ...]) -> Node:
    """Sum ``g`` down to ``shape`` (the inverse of broadcasting ``shape`` to g's shape)."""
    gshape = g.type.shape
    if gshape == tuple(shape):
        return g
    lead = len(gshape) - len(shape)
    if not lead:  # one node: the kept axes already give ``shape``
        axes = tuple(k for k, d in enumerate(shape) if d == 1 and gshape[k] != 1)
        return apply("sum", [g], axes=axes, keepdims=True)
    axes = tuple(range(lead)) + tuple(
        lead + k for k, d in enumerate(shape) if d == 1 and gshape[lead + k] != 1)
    out = apply("sum", [g], axes=axes, keepdims=False) if axes else g
    return out if out.type.shape == tuple(shape) else apply("reshape", [out], shape=shape)


def expand_reduced(g: Node, reduced: Node) -> Node:
    """Broadcast ``g`` (the gradient of a reduction's output) over the reduced axes."""
    src = reduced.inputs[0].type.shape
    axes = reduced.attrs["axes"]
    keep = tuple(1 if k in axes else d for k, d in enumerate(src))
    if g.type.shape == () and keep != src:  # a full reduction: broadcast the scalar
        return apply("broadcast_to", [g], shape=src)
    if g.type.shape != keep:
        g = apply("reshape", [g], shape=keep)
    return g if keep == src else apply("broadcast_to", [g], shape=src)


def binary(op: str, a: Node, b: Node) -> Node:
    return apply(op, [a, b])


def unary(op: str, a: Node) -> Node:
    return apply(op, [a])
