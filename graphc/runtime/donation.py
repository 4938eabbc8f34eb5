"""Which buffers a lazy realization may overwrite: the old values of replaced state.

``optimizer.step()`` computes every parameter's new value and then points the parameter
at it; the old buffer is garbage from then on unless something else still holds it. When
nothing does, the Program may write the new value into the old buffer (``Program.run``'s
``donate``; the kernels that can are built by the compiler). Who may hold an old value:

- the NumPy array: a user's ``np.asarray(param)`` or a view of it;
- the node: another Tensor on the same value (``graphc.Tensor(param)``), or a graph that
  will be computed later.

The graph being computed now reads the old value before it is overwritten (the compiler
schedules in-place writes after every reader). Any pending graph that reads it and is
held by a live Tensor is part of this realization (``optimizer.step`` realizes every
live pending Tensor that reads a value it replaces), and realized nodes forget their
inputs unless a GradManager keeps the graph (then nothing is donated). So the reference
counts decide: every reference to the node or the array must be one this module can
account for, or the old value is kept.
"""

from __future__ import annotations

import sys

from ..ir import Node
from .program import Program


def donations(program: Program, args: list[Node], values: list, outputs: list[Node],
              order: list[Node], replacing: dict[int, Node]) -> list[tuple[int, int]]:
    """``(argument index, output index)`` pairs ``program`` may compute in place.

    ``args`` and ``values`` are the Program's argument nodes and their runtime values,
    ``outputs`` its output nodes, ``order`` the topological order of the graph computed
    (a list holding every argument once), and ``replacing`` maps an output's uid to the
    node its holder held before: the caller rebinds that holder to the output and keeps
    no other reference to the old node.
    """
    candidates = _candidates(program, args, values, outputs, replacing)
    if not candidates:
        return []
    readers = _graph_references(order, {args[k].uid for k, _ in candidates})
    return [(k, j) for k, j in candidates if _only_known_holders(args[k], readers[args[k].uid])]


def replaced_pairs(args: list[Node], outputs: list[Node], replacing: dict[int, Node]
                   ) -> set[tuple[int, int]]:
    """``(argument index, output index)`` of each output that replaces an argument (the
    pairs to build in-place kernels for; a function of its own, so that no local
    variable of it outlives a reference count check)."""
    arg_index = {a.uid: k for k, a in enumerate(args)}
    pairs = set()
    for j, out in enumerate(outputs):
        old = replacing.get(out.uid)
        if old is not None and old.uid in arg_index:
            pairs.add((arg_index[old.uid], j))
    return pairs


def _candidates(program: Program, args: list[Node], values: list, outputs: list[Node],
                replacing: dict[int, Node]) -> list[tuple[int, int]]:
    """The pairs the Program can compute in place whose argument is a replaced node
    still holding the value passed in."""
    return [(k, j) for k, j in replaced_pairs(args, outputs, replacing)
            if (k, j) in program.in_place and values[k] is args[k].buffer]


def _graph_references(order: list[Node], uids: set[int]) -> dict[int, int]:
    """How many references the input tuples of ``order`` hold to each node of ``uids``.
    A tuple may be shared between nodes (autodiff's markers share theirs): it counts
    once, as reference counts do. (A function of its own: loop variables left bound to
    a node would be one more reference.)"""
    tuples = {}
    for node in order:
        for i in node.inputs:
            if i.uid in uids:
                tuples[id(node.inputs)] = node.inputs
                break
    counts = dict.fromkeys(uids, 0)
    for inputs in tuples.values():
        for i in inputs:
            if i.uid in counts:
                counts[i.uid] += 1
    return counts


def _only_known_holders(node: Node, graph_readers: int) -> bool:
    # The node: its holder's Tensor, `graph_readers` input tuples of the graph computed,
    # the args and order lists, the caller's `replacing` dict, `node` here and
    # getrefcount's argument. The array: node.buffer, the runtime values list, `array`
    # here and getrefcount's argument.
    array = node.buffer
    return (sys.getrefcount(node) == 6 + graph_readers
            and sys.getrefcount(array) == 4)
