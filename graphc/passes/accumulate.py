"""The ``matmul_accumulate`` pass: let BLAS add a matrix product into its reader's result.

``c ± s·(a @ b)``, ``s·(a @ b) + c`` and ``β·c + (a @ b)`` (with ``s`` and ``β`` scalars)
become one ``matmul_add`` node when the product and its scaling have no other reader.
This is the weight update of a traced SGD step: ``w - lr·(gᵀ·x)``, or with momentum
``m·buf + gᵀ·x``. (Adam reads each gradient twice, for both moments, and the lazy
``optimizer.step()`` keeps ``param.grad`` readable, so there the product stays.) BLAS's
``gemm`` accumulates into the result as it multiplies, so the product is never written
to a buffer of its own and read back by a separate update kernel (XLA's CPU backend fuses
``dot + addend`` the same way).

Only a sum that leaves the Program (an updated weight or optimizer state) is rewritten.
Inside a graph, ``relu(h + x @ w)`` keeps its plain product: there the add fuses into
the activation's kernel, which reads the product once, and accumulating into a copy of
``h`` first would cost a pass more (a 128x512x512 product: median 0.87 ms against
0.79 ms, three runs each).

Like ``matmul_layout``, the rewrite is exact in real arithmetic but not bit for bit (the
product and the sum round together), so it is a pass of its own. It applies to 2-D
float products of the dtypes the backend says it can accumulate
(:meth:`graphc.ir.target.Capabilities.accumulates_gemm`: on the CPU, where NumPy's BLAS
exposes ``gemm``); elsewhere the graph is left as it is.
"""

from __future__ import annotations

from ..ir import Graph, Node, is_frontier
from ..ir.target import Capabilities
from . import graph_pass
from .rewrite import derive, rewrite_in_context


def _scalar(node: Node) -> Node | None:
    """The 0-d value ``node`` broadcasts (or is), else None."""
    if node.type.shape == ():
        return node
    if node.op == "broadcast_to" and node.inputs and node.inputs[0].type.shape == ():
        return node.inputs[0]
    return None


class _Match:
    """How one ``add``/``sub`` reads a product: the ``matmul_add`` inputs and flags."""

    def __init__(self, users: dict, outputs: set[int]) -> None:
        self.users = users
        self.outputs = outputs

    def _only_reader(self, node: Node) -> bool:
        return (not is_frontier(node) and node.uid not in self.outputs
                and len(self.users.get(node.uid, ())) == 1)

    def product(self, node: Node) -> tuple[Node, Node | None] | None:
        """``(matmul, scale or None)`` when ``node`` is a single-use (scaled) product."""
        scale = None
        if node.op == "mul" and self._only_reader(node):
            for i, other in ((0, 1), (1, 0)):
                s = _scalar(node.inputs[i])
                if s is not None and node.inputs[other].op == "matmul":
                    scale, node = s, node.inputs[other]
                    break
        if node.op != "matmul" or not self._only_reader(node):
            return None
        a, b = node.inputs
        if a.type.ndim != 2 or b.type.ndim != 2:
            return None
        return node, scale

    @staticmethod
    def scaled(node: Node, shape: tuple[int, ...]) -> tuple[Node, Node | None]:
        """``(c, β or None)`` for the term the product is added to."""
        if node.op == "mul" and node.type.shape == shape:
            for i, other in ((0, 1), (1, 0)):
                s = _scalar(node.inputs[i])
                if s is not None and node.inputs[other].type.shape == shape:
                    return node.inputs[other], s
        return node, None

    def inputs(self, node: Node) -> tuple[list[Node], dict] | None:
        """The ``matmul_add`` inputs and attributes replacing ``node``, or None."""
        if node.op not in ("add", "sub") or node.type.ndim != 2:
            return None
        shape = node.type.shape
        sides = ((1, 0),) if node.op == "sub" else ((1, 0), (0, 1))
        for p, c in sides:
            found = self.product(node.inputs[p])
            if found is None or node.inputs[c].type.shape != shape:
                continue
            (matmul, alpha), (term, beta) = found, self.scaled(node.inputs[c], shape)
            if matmul.type.shape != shape or term.op == "broadcast_to":
                # A broadcast term (a bias) would be written out in full first, where
                # an elementwise kernel adds it on its way through the product for free.
                continue
            extra = [s for s in (alpha, beta) if s is not None]
            if any(s.type.dtype != node.type.dtype for s in extra):
                continue
            attrs = {"scale_product": alpha is not None, "scale_c": beta is not None,
                     "subtract": node.op == "sub"}
            return [term, *matmul.inputs, *extra], attrs
        return None


def _eligible(node: Node, capabilities: Capabilities) -> bool:
    t = node.type
    return t.ndim == 2 and t.dtype.kind == "f" and capabilities.accumulates_gemm(t.dtype)


@graph_pass("matmul_accumulate", asks_capabilities=True)
def matmul_accumulate(graph: Graph, capabilities: Capabilities) -> Graph:
    """Rewrite an output ``c ± s·(a @ b)`` with a single-use product into ``matmul_add``
    where ``capabilities`` say the backend accumulates a product of its dtype.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> w = buffer_node(np.ones((2, 3), np.float32), "cpux")
    >>> g, x = (buffer_node(np.ones((4, k), np.float32), "cpux") for k in (2, 3))
    >>> lr = buffer_node(np.float32(0.1), "cpux")
    >>> gw = apply("matmul", [apply("transpose", [g], perm=(1, 0)), x])
    >>> step = apply("sub", [w, apply("mul", [apply("broadcast_to", [lr], shape=(2, 3)), gw])])
    >>> blas = Capabilities(gemm_accumulate_dtypes=frozenset({"float32"}))
    >>> matmul_accumulate(Graph((step,)), blas).outputs[0].op
    'matmul_add'
    >>> matmul_accumulate(Graph((step,)), Capabilities()).outputs[0].op
    'sub'
    """
    outputs = {o.uid for o in graph.outputs}
    match = _Match(graph.consumers(), outputs)

    def accumulate(node: Node, replaced: dict[int, Node]) -> Node | None:
        if node.uid not in outputs:  # see the module doc: only values that leave
            return None
        found = match.inputs(node)
        if found is None or not _eligible(node, capabilities):
            return None
        inputs, attrs = found
        return derive("matmul_add", [replaced[i.uid] for i in inputs], node, **attrs)

    return rewrite_in_context(graph, accumulate)
