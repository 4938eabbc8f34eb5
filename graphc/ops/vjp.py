"""The VJP transform: the gradient graph of ``sum(ys * dys)`` with respect to ``xs``.

A pure graph transform over nodes: it walks back from ``ys`` and calls each op's VJP rule
(declared with the op), which emits ordinary nodes, so gradients go through the same
passes and fusion as the forward graph and gradients of gradients work. It lives below
the front end so that lowering a deferred gradient (the ``lower`` pass) calls nothing
above ``graphc.ops``. The one exception to "rules built from ops" is a custom
``Function``'s output (``custom_grad``): its node's payload answers
``backward(node, siblings, grads)`` with one gradient node (or None) per input, running
the user's backward.

>>> import numpy as np
>>> from graphc.ir import buffer_node, const_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.array([1., 2.], np.float32), "cpux")
>>> y = apply("sum", [apply("mul", [x, x])], axes=(0,), keepdims=False)
>>> (g,) = vjp_graph([y], [const_node(1, np.float32, "cpux")], [x])
>>> from graphc.interp import run
>>> run([g])[g.uid]
array([2., 4.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..ir import Node, topo_order
from ..ir.graph import is_input_free
from ..ir.state import current
from .registry import OPS, apply, get_op

_FLOAT_DTYPES: dict[np.dtype, bool] = {}


def differentiable_dtype(dtype: np.dtype) -> bool:
    """Whether values of ``dtype`` carry gradients (floating point)."""
    known = _FLOAT_DTYPES.get(dtype)
    if known is None:
        known = _FLOAT_DTYPES[dtype] = bool(np.issubdtype(dtype, np.floating))
    return known


def _add(a: Node | None, b: Node) -> Node:
    return b if a is None else apply("add", [a, b])


def vjp_graph(ys: Sequence[Node], dys: Sequence[Node], xs: Sequence[Node],
              through: Callable[[Node], bool] | None = None,
              xs_are_leaves: bool = False) -> list[Node | None]:
    """Gradient nodes of ``sum(ys * dys)`` with respect to each of ``xs`` (None if
    unconnected). ``through(node)`` limits which nodes gradients flow through.

    By default an x computed from another x (an intermediate attached to a GradManager)
    passes its gradient on, as a total derivative should. ``xs_are_leaves`` stops the
    gradients at the xs instead: the partial derivatives a VJP rule returns (a composite
    op differentiating its expansion with respect to its inputs). The walk goes through
    realized nodes (their graphs are still there: nodes never change).
    """
    x_ids = {x.uid for x in xs}
    stop = (lambda n: not n.inputs or n.uid in x_ids) if xs_are_leaves else is_input_free
    order = topo_order(ys, stop=stop)
    # Only nodes that depend on some x carry gradient (not through detach and other
    # non-differentiable ops: their inputs would get gradients nobody reads).
    depends: set[int] = set()
    ops = OPS
    for node in order:
        uid = node.uid
        if uid in x_ids:
            depends.add(uid)
        elif node.inputs and ops[node.op].differentiable and (through is None or through(node)):
            for i in node.inputs:
                if i.uid in depends:
                    depends.add(uid)
                    break
    grads: dict[int, Node] = {}
    for y, dy in zip(ys, dys):
        if y.uid in depends:
            grads[y.uid] = _add(grads.get(y.uid), dy)
    # Each Function call's outputs (custom_grad nodes) reached here, by call id.
    calls: dict[int, list[Node]] = {}
    for node in order:
        if node.op == "custom_grad" and node.uid in depends:
            calls.setdefault(node.attrs["function"], []).append(node)
    scopes = current().scopes
    for node in reversed(order):
        if node.uid not in depends or not node.inputs or (xs_are_leaves and node.uid in x_ids):
            continue
        if node.op == "custom_grad":
            # Visited even without a gradient: backward runs at the call's last output.
            _custom_vjp(node, calls, grads, depends)
            continue
        g = grads.get(node.uid)
        if g is None:
            continue
        op = get_op(node.op)
        if not op.differentiable:
            continue
        if op.vjp is None:
            raise NotImplementedError(f"{node.op}: no gradient rule (node built at "
                                      f"{node.meta.location})")
        needs = tuple([i.uid in depends and differentiable_dtype(i.type.dtype)
                       for i in node.inputs])
        if not any(needs):
            continue
        # A gradient is built in its forward node's module scope: "layer1.conv" in the
        # backward pass too (compile progress, visualisation).
        scopes.append(node.meta.scope)
        try:
            input_grads = op.vjp(node, g, needs) if op.vjp_needs else op.vjp(node, g)
        finally:
            scopes.pop()
        for inp, gi, need in zip(node.inputs, input_grads, needs):
            if gi is not None and need:
                _accumulate(grads, inp, gi)
    return [grads.get(x.uid) for x in xs]


def _accumulate(grads: dict[int, Node], inp: Node, gi: Node) -> None:
    if gi.type.dtype != inp.type.dtype:
        gi = apply("astype", [gi], dtype=inp.type.dtype.name)
    grads[inp.uid] = _add(grads.get(inp.uid), gi)


def _custom_vjp(node: Node, calls: dict[int, list[Node]], grads: dict[int, Node],
                depends: set[int]) -> None:
    """Call a Function's backward at the last of its outputs (in reverse order), when
    every output's gradient is known; an output without one passes None (MegEngine)."""
    siblings = calls[node.attrs["function"]]
    if node is not siblings[0]:  # siblings are in topological order
        return
    if all(grads.get(n.uid) is None for n in siblings):
        return
    by_index = {n.attrs["index"]: n for n in siblings}
    out_grads = []
    for i in range(node.attrs["outputs"]):
        sib = by_index.get(i)
        out_grads.append(grads.get(sib.uid) if sib is not None else None)
    in_grads = node.value.backward(node, siblings, out_grads)
    for inp, gi in zip(node.inputs[1:], in_grads):
        if gi is not None and inp.uid in depends and differentiable_dtype(inp.type.dtype):
            _accumulate(grads, inp, gi)


def vjp_through(node: Node, stands_for: Node, g: Node,
                needs: Sequence[bool]) -> tuple[Node | None, ...]:
    """The VJP rule of an op that stands for a subgraph (a composite op, a deferred
    gradient): the partial derivatives of ``stands_for`` with respect to ``node``'s
    inputs (an input repeated gets its gradient once)."""
    wanted, seen = [], set()
    for i, need in zip(node.inputs, needs):
        wanted.append(need and i.uid not in seen)
        seen.add(i.uid)
    xs = [i for i, w in zip(node.inputs, wanted) if w]
    grads = iter(vjp_graph([stands_for], [g], xs, xs_are_leaves=True))
    return tuple(next(grads) if w else None for w in wanted)
