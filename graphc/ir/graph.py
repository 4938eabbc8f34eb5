"""Graph traversal and structural keys. Every traversal is iterative (no recursion)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .node import Node
from .values import _values


def _is_frontier(node: Node) -> bool:
    """Realized nodes and leaves end a pending subgraph: their values are inputs."""
    return not node.inputs or node.uid in _values


def topo_order(roots: Iterable[Node], stop: Callable[[Node], bool] = _is_frontier) -> list[Node]:
    """Nodes reachable from ``roots``, inputs before users; traversal ends at ``stop`` nodes.

    >>> from graphc.ir import buffer_node
    >>> import numpy as np
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> [n.op for n in topo_order([x])]
    ['buffer']
    """
    if stop is _is_frontier:
        return _pending_topo(roots, True)
    if stop is is_input_free:
        return _pending_topo(roots, False)
    order: list[Node] = []
    visited: set[int] = set()
    for root in roots:
        if root.uid in visited:
            continue
        visited.add(root.uid)
        stack = [(root, iter(() if stop(root) else root.inputs))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child.uid not in visited:
                    visited.add(child.uid)
                    stack.append((child, iter(() if stop(child) else child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def is_input_free(node: Node) -> bool:
    """Whether ``node`` has no inputs (a leaf, or a realized node that dropped them): as
    ``topo_order``'s ``stop``, the walk goes on through realized nodes (autodiff)."""
    return not node.inputs


def _pending_topo(roots: Iterable[Node], stop_at_realized: bool) -> list[Node]:
    """``topo_order`` ending at frontier nodes (or, without ``stop_at_realized``, at
    nodes without inputs), with the test inlined: the per-step hot path (realization,
    structural keys, autodiff). A node where the walk stops is emitted as soon as it is
    first seen, which is where the general walk emits it too."""
    order: list[Node] = []
    visited: set[int] = set()
    seen = visited.add
    emit = order.append
    realized = _values
    for root in roots:
        if root.uid in visited:
            continue
        seen(root.uid)
        if not root.inputs or (stop_at_realized and root.uid in realized):
            emit(root)
            continue
        stack = [(root, iter(root.inputs))]
        push = stack.append
        while stack:
            node, children = stack[-1]
            for child in children:
                if child.uid not in visited:
                    seen(child.uid)
                    if not child.inputs or (stop_at_realized and child.uid in realized):
                        emit(child)
                        continue
                    push((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                emit(node)
    return order


def snapshot(roots: Iterable[Node]) -> list[Node]:
    """Copies of ``roots`` whose pending nodes are fresh, unrealized copies (frontier
    nodes shared): the graph as it is now, kept pending after it is realized (what
    ``graphc.viz.capture`` draws).

    >>> from graphc.ir import buffer_node
    >>> import numpy as np
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> snapshot([x]) == [x]
    True
    """
    roots = list(roots)
    copies: dict[int, Node] = {}
    for n in topo_order(roots):
        copies[n.uid] = n if _is_frontier(n) else Node(
            n.op, tuple(copies[i.uid] for i in n.inputs), n.attrs, n.type, value=n.value,
            meta=n.meta)
    return [copies[r.uid] for r in roots]


def pending_nodes(roots: Iterable[Node]) -> list[Node]:
    """The unrealized part of the graph below ``roots`` (frontier nodes excluded)."""
    return [n for n in topo_order(roots) if not _is_frontier(n)]


def count_nodes(roots: Iterable[Node]) -> int:
    """Number of nodes reachable from ``roots`` through all retained inputs."""
    return len(topo_order(roots, stop=lambda n: False))


def structural_key(roots: list[Node], order: list[Node] | None = None
                   ) -> tuple[tuple, list[Node]]:
    """A hashable key for the pending subgraph below ``roots`` and its runtime arguments.

    Realized nodes, buffers and placeholders become numbered arguments abstracted to
    their types, so the next step of a training loop (new data, same model) gets the
    same key. ``scalar`` leaves are arguments keyed by dtype; ``const`` leaves (0 and ±1,
    which simplification rewrites) keep their value in the key.

    >>> from graphc.ir import buffer_node
    >>> import numpy as np
    >>> k1, args = structural_key([buffer_node(np.ones(2, np.float32), "cpux")])
    >>> k2, _ = structural_key([buffer_node(np.zeros(2, np.float32), "cpux")])
    >>> k1 == k2, len(args)
    (True, 1)
    """
    if order is None:  # callers that just walked the graph pass topo_order(roots)
        order = topo_order(roots)
    index: dict[int, int] = {}
    args: list[Node] = []
    entries: list[tuple] = []
    emit = entries.append
    realized = _values
    for node in order:
        index[node.uid] = len(entries)
        if not node.inputs or node.uid in realized:
            op = node.op
            if op == "const":
                emit(("const", node.type, repr(node.value)))
            elif op == "scalar":
                emit(("scalar", node.type, len(args)))
                args.append(node)
            else:
                emit(("arg", node.type, len(args)))
                args.append(node)
        else:
            ins = node.inputs
            n = len(ins)  # (up to three inputs spelled out: a comprehension costs a frame)
            emit((node.op, node.attrs._items, node.type,  # hashes in C, unlike Attrs
                  (index[ins[0].uid],) if n == 1 else
                  (index[ins[0].uid], index[ins[1].uid]) if n == 2 else
                  (index[ins[0].uid], index[ins[1].uid], index[ins[2].uid]) if n == 3 else
                  tuple([index[i.uid] for i in ins])))
    outputs = tuple([index[r.uid] for r in roots])
    return (tuple(entries), outputs), args


@dataclass(frozen=True)
class Graph:
    """What passes transform: the pending computation of ``outputs``.

    Its frontier (leaves and realized nodes) holds the inputs. Passes are pure functions
    ``Graph -> Graph`` that rebuild nodes with :func:`graphc.ir.rebuild` (hash-consing
    merges duplicates) and never change a frontier node.

    A frontier ``scalar`` is a runtime argument: passes must not fold or specialise on its
    value (unless ``fold_constants.mark_known`` says a pass built it from structure).
    """

    outputs: tuple[Node, ...]

    def nodes(self) -> list[Node]:
        """All nodes, inputs before users (frontier nodes included)."""
        return topo_order(self.outputs)

    def pending(self) -> list[Node]:
        """The nodes to compute, inputs before users."""
        return [n for n in self.nodes() if not _is_frontier(n)]

    def frontier(self) -> list[Node]:
        """Leaves and realized nodes the computation reads."""
        return [n for n in self.nodes() if _is_frontier(n)]

    def consumers(self) -> dict[int, list[Node]]:
        """uid → the pending nodes that read it (once per use)."""
        users: dict[int, list[Node]] = {}
        for n in self.pending():
            for i in n.inputs:
                users.setdefault(i.uid, []).append(n)
        return users


def is_frontier(node: Node) -> bool:
    """Whether ``node`` is an input of any computation that reads it."""
    return _is_frontier(node)
