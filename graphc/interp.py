"""The NumPy reference interpreter: the oracle every compiled result is checked against.

It runs each pending node's reference implementation in topological order, frees
intermediate values after their last use and returns the values of the roots and of
the memoised nodes. Select it for everything with ``GRAPHC_BACKEND=interp``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .ir import Node, OpError, topo_order
from .ops import get_op, lower_graph


def run(roots: Sequence[Node], memo: set[int] = frozenset(),
        given: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Evaluate ``roots``; returns ``{uid: value}`` for roots and nodes in ``memo``.
    ``given`` maps the uid of a frontier node to the value to use for it instead of its
    own (a compiled function's inputs and state, read at each call).

    >>> from graphc.ir import buffer_node
    >>> from graphc.ops import apply
    >>> x = buffer_node(np.arange(3, dtype=np.float32), "cpux")
    >>> y = apply("neg", [x])
    >>> run([y])[y.uid]
    array([-0., -1., -2.], dtype=float32)
    """
    # Deferred gradients: evaluate what they stand for (composite ops, which have a
    # reference of their own, stay as they are).
    lowered, mapping = lower_graph(roots, markers_only=True)
    if mapping:
        values = run(lowered, {mapping[u].uid for u in memo if u in mapping}, given)
        out = {r.uid: values[n.uid] for r, n in zip(roots, lowered)}
        for uid in memo:
            if uid in mapping and mapping[uid].uid in values:
                out[uid] = values[mapping[uid].uid]
        return out
    order = topo_order(roots)
    keep = {r.uid for r in roots} | set(memo)
    uses: dict[int, int] = {}
    for node in order:
        if node.buffer is None:
            for i in node.inputs:
                uses[i.uid] = uses.get(i.uid, 0) + 1
    values: dict[int, np.ndarray] = {}
    result: dict[int, np.ndarray] = {}
    given = given or {}
    for node in order:
        if node.uid in given:
            values[node.uid] = given[node.uid]
            continue
        if node.buffer is not None:
            values[node.uid] = node.buffer
            continue
        if not node.inputs:
            raise OpError(f"{node.op} node %{node.uid} has no value "
                          f"(built at {node.meta.location})")
        out = evaluate(node, [values[i.uid] for i in node.inputs])
        values[node.uid] = out
        if node.uid in keep:
            result[node.uid] = out
        for i in node.inputs:
            uses[i.uid] -= 1
            if uses[i.uid] == 0 and i.buffer is None:
                del values[i.uid]
    for r in roots:
        if r.uid not in result:  # a frontier root: its value is its buffer
            result[r.uid] = values[r.uid]
    return result


def evaluate(node: Node, args: Sequence[np.ndarray]) -> np.ndarray:
    """One node's value from its inputs' values, checked against its static type."""
    op = get_op(node.op)
    with np.errstate(all="ignore"):
        try:
            out = op.reference(args, node.attrs)
        except OpError as err:
            raise OpError(f"{node.op}: {err} ({node.meta.location})") from None
    out = np.asarray(out)
    if out.dtype != node.type.dtype:
        out = out.astype(node.type.dtype)
    if out.shape != node.type.shape:
        raise AssertionError(f"{node.op} produced shape {out.shape}, inferred {node.type.shape}")
    if out.flags.writeable:
        out.flags.writeable = False
    return out
