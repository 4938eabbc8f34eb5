"""The bottom-up rewrite driver shared by the graph passes.

:func:`rewrite` walks a graph in topological order (iteratively: graphs of 100,000
nodes work), rebuilds each pending node from its already rewritten inputs and offers it
to a *rule*. A rule returns ``None`` (keep the node) or a replacement of exactly the same
:class:`~graphc.ir.TensorType`; the replacement is offered to the rule again, so rules
compose (``reshape(reshape(x))`` → ``reshape(x)`` → ``x``). Frontier nodes (leaves and
realized nodes) are inputs and never change.

One policy holds for every pass: a graph output that was computed stays computed. If a
rule reduces an output to a frontier node (``x * 1`` → the buffer ``x``), the output
becomes ``copy(x)``, so a realized result never aliases an input buffer that an
optimizer may later overwrite in place, and never turns into a bare runtime scalar.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import EMPTY_ATTRS, Attrs, Graph, Node, is_frontier, make_node, rebuild
from ..ops import get_op

Rule = Callable[[Node], "Node | None"]

# A rule may rewrite its own replacement; this bounds chains (and guards against cycles).
MAX_REWRITES_PER_NODE = 16


def rewrite(graph: Graph, rule: Rule, pass_name: str = "rewrite") -> Graph:
    """Apply ``rule`` to every pending node of ``graph``, inputs before users.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> g = Graph((apply("exp", [apply("neg", [x])]),))
    >>> def exp_to_sin(node):
    ...     return derive("sin", node.inputs, node) if node.op == "exp" else None
    >>> [n.op for n in rewrite(g, exp_to_sin).pending()]
    ['neg', 'sin']
    """
    replaced: dict[int, Node] = {}  # uid of an original node → its rewritten node
    settled: dict[int, Node] = {}  # uid of a rebuilt node → the rule's final answer
    for node in graph.nodes():
        if is_frontier(node):
            replaced[node.uid] = node
            continue
        rebuilt = rebuild(node, tuple(replaced[i.uid] for i in node.inputs))
        result = settled.get(rebuilt.uid)
        if result is None:
            result = _settle(rebuilt, rule, pass_name)
            settled[rebuilt.uid] = result
        replaced[node.uid] = result
    return Graph(tuple(_keep_computed(old, replaced[old.uid]) for old in graph.outputs))


def _settle(node: Node, rule: Rule, pass_name: str) -> Node:
    current = node
    for _ in range(MAX_REWRITES_PER_NODE):
        if is_frontier(current):
            break
        candidate = rule(current)
        if candidate is None or candidate is current:
            break
        if candidate.type != node.type:
            raise TypeError(f"{pass_name}: a rule replaced {node.op} node %{node.uid} "
                            f"({node.meta.location}) of type {node.type} by {candidate.op} "
                            f"of type {candidate.type}; a replacement must keep the type")
        current = candidate
    return current


def rewrite_in_context(graph: Graph,
                       rule: Callable[[Node, dict[int, Node]], Node | None]) -> Graph:
    """Rebuild ``graph`` once, inputs before users, offering each pending *original* node
    to ``rule(node, replaced)``: rules that look at the original graph around a node (its
    consumers, say) see it unchanged, and build their replacement from ``replaced``
    (original uid → rewritten node). ``None`` keeps the node, rebuilt on rewritten inputs.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> g = Graph((apply("exp", [apply("neg", [x])]),))
    >>> def neg_to_abs(node, replaced):
    ...     return derive("abs", [replaced[node.inputs[0].uid]], node) if node.op == "neg" else None
    >>> [n.op for n in rewrite_in_context(g, neg_to_abs).pending()]
    ['abs', 'exp']
    """
    replaced: dict[int, Node] = {}
    for node in graph.nodes():
        if is_frontier(node):
            replaced[node.uid] = node
            continue
        new = rule(node, replaced)
        replaced[node.uid] = new if new is not None else rebuild(
            node, tuple(replaced[i.uid] for i in node.inputs))
    return Graph(tuple(_keep_computed(old, replaced[old.uid]) for old in graph.outputs))


def _keep_computed(old: Node, new: Node) -> Node:
    if is_frontier(new) and not is_frontier(old):
        return make_node("copy", (new,), EMPTY_ATTRS, new.type, meta=old.meta)
    return new


def derive(op: str, inputs: tuple[Node, ...] | list[Node], like: Node, **attrs: object) -> Node:
    """The node ``op(inputs; attrs)`` with its type inferred, inheriting ``like``'s metadata.

    Rules build replacements with it, so error messages and visualisation keep pointing
    at the user's line that built the original node.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> x = buffer_node(np.ones((2, 3), np.float32), "cpux")
    >>> derive("transpose", [x], x, perm=(1, 0)).type.shape
    (3, 2)
    """
    frozen = Attrs(attrs)
    out_type = get_op(op).infer([i.type for i in inputs], frozen)
    return make_node(op, tuple(inputs), frozen, out_type, meta=like.meta)
