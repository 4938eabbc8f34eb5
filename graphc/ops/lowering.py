"""Lowering: ops that stand for a subgraph become that subgraph, by substitution.

Two kinds of op stand for a subgraph built on demand:

- composite ops (:mod:`graphc.ops.composite`): their recorded template, instantiated;
- ``grad_of`` markers (a gradient ``GradManager.backward`` deferred): the VJP graph of
  the forward graph they read, built by :func:`graphc.ops.vjp.vjp_graph`.

Both are pure graph work (nothing above ``graphc.ops`` is called), and nothing is
changed in place: :func:`lower_graph` returns new roots over the lowered subgraphs, the
graph the ``lower`` pass compiles and the interpreter evaluates.

>>> import numpy as np
>>> from graphc.ir import buffer_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.ones(2, np.float32), "cpux")
>>> roots, mapping = lower_graph([apply("neg", [x])])
>>> roots[0].op
'neg'
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from ..ir import Node, autodiff_marker, const_node, is_frontier, rebuild, topo_order
from ..ir.values import _values
from .composite import expansion
from .registry import OPS, apply

# marker → its lowered gradient, while the marker lives: explaining, drawing and then
# compiling a pending step lower it once and see the same nodes.
_lowered: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def lowerings(nodes: Sequence[Node], markers_only: bool = False) -> dict[int, Node]:
    """uid → the subgraph each pending composite or marker node among ``nodes`` stands
    for (empty when there is none: the common case, one dict lookup per node).
    ``markers_only``: only ``grad_of`` markers, which must be lowered to be evaluated or
    differentiated (a composite op has a reference and a VJP of its own)."""
    markers: list[Node] = []
    out: dict[int, Node] = {}
    ops = OPS
    for n in nodes:
        if n.inputs and n.uid not in _values:
            op = ops[n.op]
            if op.marker:
                markers.append(n)
            elif op.composite and not markers_only:
                out[n.uid] = expansion(n)
    if markers:
        out.update(lower_gradients(markers))
    return out


def lower_graph(roots: Sequence[Node], markers_only: bool = False
                ) -> tuple[list[Node], dict[int, Node]]:
    """``roots`` with every composite and marker node below them replaced by what it
    stands for, recursively (an expansion may hold more), and ``{old uid: new node}``
    for every node of the walk (empty when nothing was lowered: ``roots`` are then
    returned as they are). Frontier nodes stay as they are.

    One walk: a node's stand-in is lowered when the walk reaches the node, and every
    node is rebuilt once. (Walking the whole graph again per level of nesting cost
    ShuffleNet V2's training step 54 walks over 100,000 nodes: 19 s.)"""
    new: dict[int, Node] = {}
    lowered = [False]

    def settled(n: Node) -> bool:
        return n.uid in new or is_frontier(n)

    def lower(subroots: list[Node]) -> None:
        order = [n for n in topo_order(subroots, stop=settled) if n.uid not in new]
        stand_ins = lowerings(order, markers_only)  # the markers of a call lowered together
        for n in order:
            if is_frontier(n):
                new[n.uid] = n
                continue
            stand_in = stand_ins.get(n.uid)
            if stand_in is None:
                new[n.uid] = rebuild(n, tuple(new[i.uid] for i in n.inputs))
            else:
                lowered[0] = True
                lower([stand_in])  # its nodes below n are settled: only the new ones walk
                new[n.uid] = new[stand_in.uid]

    roots = list(roots)
    lower(roots)
    if not lowered[0]:
        return roots, {}
    return [new[r.uid] for r in roots], new


def lower_gradients(markers: list[Node]) -> dict[int, Node]:
    """The VJP graph each ``grad_of`` marker stands for (one VJP per backward call)."""
    from .vjp import vjp_graph

    out: dict[int, Node] = {}
    calls: dict[tuple, list[Node]] = {}
    for m in markers:
        done = _lowered.get(m)
        if done is not None:
            out[m.uid] = done
        else:
            calls.setdefault((tuple(i.uid for i in m.inputs), m.attrs["n_ys"]), []).append(m)
    for (_, n), group in calls.items():
        inputs = group[0].inputs
        with autodiff_marker(group[0].meta._where):
            grads = vjp_graph(list(inputs[:n]), list(inputs[n:2 * n]), list(inputs[2 * n:]))
            for m in group:
                g = grads[m.attrs["x"]]
                if g is None:  # connected, but every path's rule gave no gradient
                    t = m.type
                    g = const_node(0, t.dtype, t.device)
                    if t.shape:
                        g = apply("broadcast_to", [g], shape=t.shape)
                out[m.uid] = _lowered[m] = g
    return out


def _marker_vjp(node: Node, g: Node, needs: Sequence[bool]) -> tuple[Node | None, ...]:
    """A marker differentiates as what it stands for (gradients of deferred gradients),
    with respect to its inputs, as a composite op does."""
    from .vjp import vjp_through

    (lowered,) = lower_gradients([node]).values()
    return vjp_through(node, lowered, g, needs)


_grad_of = OPS["grad_of"]
_grad_of.vjp, _grad_of.vjp_needs = _marker_vjp, True
