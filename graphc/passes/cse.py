"""The ``cse`` pass: one node per distinct computation.

Hash-consing already merges nodes built the same way. What it cannot see:

- duplicates that appear only after a rewrite: ``cse`` rebuilds every node through
  :func:`~graphc.ir.make_node`, so two nodes whose inputs became equal merge;
- commutative ops with swapped operands (``a + b`` and ``b + a``): inputs are put in a
  canonical order so both spell the same key. The order is by the operands' ops first,
  then uid: two layers' ``matmul + broadcast(bias)`` then put their operands the same
  way round, render the same kernel source and share one compiled kernel (by uid alone
  the second layer's bias came first: a second compile of the same loop);
- equal known constants that are different nodes (a folded value and a key constant of
  a graph built elsewhere): one per value, dtype and device remains.

``maximum`` and ``minimum`` are commutative only for integer and bool operands: on
floats NumPy (and IEEE maxNum in most libraries) returns the *second* operand when both
compare equal, so ``maximum(0.0, -0.0)`` is ``-0.0`` but ``maximum(-0.0, 0.0)`` is
``0.0``; swapping them would flip the sign of a zero result.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, make_node
from . import graph_pass
from .fold_constants import is_known_constant
from .rewrite import rewrite

COMMUTATIVE = frozenset({"add", "mul", "equal", "not_equal", "logical_and", "logical_or",
                         "logical_xor"})
# Commutative except for the sign of a zero result on floats (see the module docstring).
COMMUTATIVE_UNLESS_FLOAT = frozenset({"maximum", "minimum"})


def is_commutative(node: Node) -> bool:
    """Whether swapping ``node``'s two operands never changes its value (bit for bit)."""
    if node.op in COMMUTATIVE:
        return True
    if node.op in COMMUTATIVE_UNLESS_FLOAT:
        return not np.issubdtype(node.inputs[0].type.dtype, np.floating)
    return False


def _const_key(node: Node) -> tuple:
    value = node.value
    ident = value.hex() if isinstance(value, float) else value  # tells -0.0 and nans apart
    return node.type, type(value).__name__, ident


@graph_pass("cse")
def cse(graph: Graph) -> Graph:
    """Merge nodes that compute the same value the same way.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> a = buffer_node(np.ones(2, np.float32), "cpux")
    >>> b = buffer_node(np.ones(2, np.float32), "cpux")
    >>> g = cse(Graph((apply("sub", [apply("add", [a, b]), apply("add", [b, a])]),)))
    >>> [n.op for n in g.pending()]
    ['add', 'sub']
    """
    folded: dict[tuple, Node] = {}

    def canonical_const(node: Node) -> Node:
        if not is_known_constant(node):
            return node
        return folded.setdefault(_const_key(node), node)

    def canonicalise(node: Node) -> Node | None:
        inputs = tuple(canonical_const(i) for i in node.inputs)
        if (len(inputs) == 2 and is_commutative(node)
                and (inputs[0].op, inputs[0].uid) > (inputs[1].op, inputs[1].uid)):
            inputs = (inputs[1], inputs[0])
        if inputs == node.inputs:
            return None
        return make_node(node.op, inputs, node.attrs, node.type, meta=node.meta)

    return rewrite(graph, canonicalise, "cse")
