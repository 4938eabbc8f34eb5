"""The ``fold_constants`` pass: compute at compile time what depends only on known values.

A value is *known* when it is the same on every call of the compiled program: a
``const`` whose value is in the structural key (0, -0.0, ±1, True, False), a constant
folded earlier, or a pending node computed only from known values. Everything else is
data: buffers, realized nodes and placeholders change between calls, and so do
runtime-argument consts (a learning rate of 0.01 today is 0.02 after the scheduler
steps, under the same compiled program). This pass never reads any of those.

A pending node whose inputs are all known is evaluated with its op's NumPy reference.
Only 0-d results become constants; larger known values are kept as nodes (a
``broadcast_to(0, (1000, 1000))`` stays a broadcast, never a baked megabyte), though
their values (when small) still feed folds downstream, e.g. ``sum`` of a broadcast one.

A folded value outside the key (``1 + 1`` → 2.0) is baked into the program. Consts are
hash-consed by value, so ``const_node(2.0)`` may be the very node a user passed as a
runtime argument elsewhere in the same graph, which the compiler reads from its
argument slot on every call. A folded value outside the key is therefore a fresh,
un-consed const node: it can never be mistaken for an argument.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..ir import EMPTY_ATTRS, Graph, GraphcError, Node, const_in_key, const_node, is_frontier
from ..ops import get_op
from . import graph_pass
from .rewrite import derive, rewrite

# Known values larger than this are not computed at compile time (only 0-d ones are
# folded anyway; this bounds the work spent on intermediates such as a broadcast).
VALUE_LIMIT = 4096

_FOLDABLE_KINDS = frozenset({"elementwise", "movement", "reduce"})
# Consts this pass made whose values are outside the key: known, though not keyed.
_folded: weakref.WeakSet = weakref.WeakSet()
# Folded consts by type and value, while they live: folding one graph twice (an explain,
# then a drawing) gives the same nodes. Their own table, never the consed one, so a
# folded value is never the node of a runtime argument.
_folded_by_value: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def is_known_constant(node: Node) -> bool:
    """Whether ``node`` is a const whose value every call of a program shares.

    >>> import numpy as np
    >>> from graphc.ir import const_node
    >>> is_known_constant(const_node(1.0, np.float32, "cpux"))
    True
    >>> is_known_constant(const_node(0.5, np.float32, "cpux"))  # a runtime argument
    False
    """
    return node.op == "const" or (node.op == "scalar" and node in _folded)


def folded_const(value: object, like: Node) -> Node:
    """A 0-d const of ``like``'s type holding ``value``, known to later passes.

    >>> import numpy as np
    >>> from graphc.ir import const_node
    >>> runtime_two = const_node(2.0, np.float32, "cpux")
    >>> folded_const(2.0, runtime_two) is runtime_two  # never the argument's node
    False
    """
    t = like.type
    consed = const_node(value, t.dtype, t.device)
    if const_in_key(consed):
        return consed
    key = (consed.type, consed.buffer.tobytes())
    known = _folded_by_value.get(key)
    if known is not None:
        return known
    fresh = Node("const", (), EMPTY_ATTRS, consed.type, value=consed.value,
                 data=consed.data, meta=like.meta)
    _folded.add(fresh)
    _folded_by_value[key] = fresh
    return fresh


def mark_known(consts: list[Node]) -> None:
    """Declare ``consts`` known: consts a pass made from structure alone (a composite
    op's ``1/N``, a VJP rule's scalar), which no call can change. Never a const the
    graph had before the pass: that may be a runtime argument."""
    for c in consts:
        if c.op == "scalar":
            _folded.add(c)


def _evaluate(node: Node, args: list[np.ndarray]) -> np.ndarray | None:
    op = get_op(node.op)
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(op.reference(args, node.attrs))
    except (GraphcError, ArithmeticError, ValueError):
        return None  # e.g. an integer to a negative power: left for run time to report
    return out.astype(node.type.dtype, copy=False)


@graph_pass("fold_constants")
def fold_constants(graph: Graph) -> Graph:
    """Replace each 0-d node computed only from known constants by its value.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node, const_node
    >>> from graphc.ops import apply
    >>> one = const_node(1.0, np.float32, "cpux")
    >>> x = buffer_node(np.ones((), np.float32), "cpux")
    >>> g = fold_constants(Graph((apply("mul", [x, apply("add", [one, one])]),)))
    >>> [(n.op, n.value) for n in g.nodes() if n.op == "const"]
    [('const', 2.0)]
    """
    values: dict[int, np.ndarray] = {}  # uid → value of a known node

    def value_of(node: Node) -> np.ndarray | None:
        if node.uid in values:
            return values[node.uid]
        if is_known_constant(node):
            values[node.uid] = np.asarray(node.value, dtype=node.type.dtype)
            return values[node.uid]
        return None

    def scalar_of(node: Node) -> np.ndarray | None:
        """The value of a known 0-d node, or of a broadcast of one."""
        if node.op == "broadcast_to" and node.inputs and not is_frontier(node):
            node = node.inputs[0]
        value = value_of(node)
        return value if value is not None and value.shape == () else None

    def fold(node: Node) -> Node | None:
        kind = get_op(node.op).kind
        if kind == "elementwise" and node.type.shape != () and node.inputs:
            # Elementwise over broadcast scalars (the gradient of a mean, -1/N in every
            # row): compute the scalar once and broadcast it, whatever the size.
            scalars = [scalar_of(i) for i in node.inputs]
            if all(a is not None for a in scalars):
                value = _evaluate(node, scalars)
                if value is not None and value.shape == ():
                    const = folded_const(value.item(), node)
                    values[const.uid] = value
                    return derive("broadcast_to", [const], node, shape=node.type.shape)
        if kind not in _FOLDABLE_KINDS or node.type.size > VALUE_LIMIT:
            return None
        args = [value_of(i) for i in node.inputs]
        if any(a is None for a in args):
            return None
        value = _evaluate(node, args)
        if value is None:
            return None
        if node.type.shape != ():
            values[node.uid] = value  # known, but kept as a node: only scalars are baked
            return None
        const = folded_const(value.item(), node)
        values[const.uid] = value
        return const

    return rewrite(graph, fold, "fold_constants")


__all__ = ["VALUE_LIMIT", "fold_constants", "folded_const", "is_known_constant"]
