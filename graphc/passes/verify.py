"""The ``verify`` pass: check that every node is what its op says it is.

For each pending node it re-runs the op's shape and dtype inference on the input types
and attrs and compares the result with the node's recorded type; it also checks that
the op is registered and that every frontier node has a value (a leaf, or realized
data of the recorded shape). A broken node raises :class:`VerifyError` naming the node,
its op and the user's line that built it. A graph that passes is returned unchanged,
so ``verify`` can run between any two passes.
"""

from __future__ import annotations

from ..ir import LEAF_OPS, Graph, GraphcError, Node
from ..ir.node import SCALAR_OPS
from ..ops import OPS
from . import graph_pass


class VerifyError(GraphcError):
    """A node whose recorded type or structure contradicts its op."""


def _where(node: Node) -> str:
    return f"{node.op} node %{node.uid} (built at {node.meta.location})"


def _check_frontier(node: Node) -> None:
    if node.buffer is None and node.op not in ("placeholder",):
        raise VerifyError(f"verify: {_where(node)} has neither inputs nor a value")
    if node.op in SCALAR_OPS and node.type.shape != ():
        raise VerifyError(f"verify: {_where(node)} is a const of shape {node.type.shape}; "
                          "consts are 0-d")
    shape = getattr(node.buffer, "shape", None)
    if shape is not None and tuple(shape) != node.type.shape:
        raise VerifyError(f"verify: {_where(node)} holds data of shape {tuple(shape)} but "
                          f"its type says {node.type}")


def _check_pending(node: Node) -> None:
    op = OPS.get(node.op)
    if op is None:
        raise VerifyError(f"verify: {_where(node)}: op {node.op!r} is not registered")
    if node.op in LEAF_OPS:
        raise VerifyError(f"verify: {_where(node)}: a leaf op cannot have inputs")
    try:
        inferred = op.infer([i.type for i in node.inputs], node.attrs)
    except (GraphcError, KeyError, IndexError, TypeError, ValueError) as err:
        inputs = ", ".join(str(i.type) for i in node.inputs)
        raise VerifyError(f"verify: {_where(node)} with inputs ({inputs}) and attrs "
                          f"{node.attrs!r} fails its op's inference: {err}") from None
    if inferred != node.type:
        raise VerifyError(f"verify: {_where(node)} records type {node.type} but {node.op} of "
                          f"({', '.join(str(i.type) for i in node.inputs)}) with attrs "
                          f"{node.attrs!r} gives {inferred}")


@graph_pass("verify")
def verify(graph: Graph) -> Graph:
    """Check every node of ``graph``; return it unchanged or raise :class:`VerifyError`.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> g = Graph((apply("exp", [buffer_node(np.ones(2, np.float32), "cpux")]),))
    >>> verify(g) is g
    True
    """
    for out in graph.outputs:
        if not isinstance(out, Node):
            raise VerifyError(f"verify: graph output {out!r} is not a node")
    for node in graph.nodes():
        if node.buffer is not None or not node.inputs:
            _check_frontier(node)
        else:
            _check_pending(node)
    return graph
