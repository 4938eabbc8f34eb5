"""The ``dce`` pass: keep only the nodes whose values some output uses.

A :class:`~graphc.ir.Graph` is rooted at its outputs: it *holds* only the nodes reachable
from them, so a node orphaned by an earlier rewrite (the ``mul`` of ``x * 1`` after
``simplify``) is already gone from ``graph.nodes()``; dead-node removal is implicit in
the representation and costs nothing. :func:`live_nodes` makes that set explicit for
the passes that follow (fusion, memory planning).

What ``dce`` does remove are wrappers that exist only for automatic differentiation and
that compiled code never needs (the compiler erases them, see :mod:`graphc.ops.special`):

- ``identity(x)`` → ``x`` (a fresh handle for a tensor attached mid-recording);
- ``custom_grad(out, *inputs)`` → ``out`` (a user ``Function``'s output: its value is
  ``out``; ``inputs`` were kept only for its backward), which makes the subgraphs only
  the backward needed dead.

Autodiff runs when ``backward()`` or ``grad`` is called, before compilation, so no
compiled graph differentiates through these nodes any more.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..ops import OPS
from . import graph_pass
from .rewrite import rewrite


def live_nodes(graph: Graph) -> list[Node]:
    """The nodes whose values the outputs need, inputs before users (frontier included).

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> [n.op for n in live_nodes(Graph((apply("exp", [x]),)))]
    ['buffer', 'exp']
    """
    return graph.nodes()


def _strip_wrapper(node: Node) -> Node | None:
    op = OPS.get(node.op)
    if op is not None and op.autodiff_wrapper and node.inputs[0].type == node.type:
        return node.inputs[0]
    return None


@graph_pass("dce")
def dce(graph: Graph) -> Graph:
    """Drop autodiff-only wrappers; the result holds exactly the live nodes.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> g = dce(Graph((apply("exp", [apply("identity", [x])]),)))
    >>> [n.op for n in live_nodes(g)]
    ['buffer', 'exp']
    """
    return rewrite(graph, _strip_wrapper, "dce")
