"""Realized values: what realizations computed, kept beside the graph, never in it.

Nodes are immutable (:mod:`graphc.ir.node`); the value a realization computes for an
operator node is recorded here, keyed by the node's uid and held for as long as the node
lives: the entry goes when the node is garbage-collected (a weak reference's callback),
so the table never keeps a graph alive and never outlives one. Leaves carry their own
data; this table is for operator nodes only.

The runtime writes (:func:`record`, :func:`forget`); everyone reads through
``node.buffer`` (or, on a per-step hot path, ``node.uid in _values``).

>>> import numpy as np
>>> from graphc.ir import buffer_node
>>> from graphc.ops import apply
>>> y = apply("neg", [buffer_node(np.ones(2, np.float32), "cpux")])
>>> y.buffer is None
True
>>> record(y, -np.ones(2, np.float32)); y.buffer
array([-1., -1.], dtype=float32)
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .node import Node

# uid → value of every live, realized operator node; uid → the weak reference whose
# callback removes the entry when the node dies; id(that reference) → uid. Plain dict
# operations, atomic under the GIL (graphc supports GIL builds of CPython only).
_values: dict[int, Any] = {}
_refs: dict[int, weakref.ref] = {}
_uid_of_ref: dict[int, int] = {}


def _drop(ref: weakref.ref) -> None:
    uid = _uid_of_ref.pop(id(ref), None)
    if uid is not None:
        _values.pop(uid, None)
        _refs.pop(uid, None)


def record(node: Node, value: Any) -> None:
    """Remember ``value`` as the realized value of the operator node ``node``."""
    uid = node.uid
    _values[uid] = value
    if uid not in _refs:
        ref = _refs[uid] = weakref.ref(node, _drop)
        _uid_of_ref[id(ref)] = uid


def forget(node: Node) -> None:
    """Drop the value of ``node`` (its buffer was given to a new value in place: a later
    read must fail, not see the new one)."""
    _values.pop(node.uid, None)


def count() -> int:
    """How many realized operator nodes are alive (for memory tests)."""
    return len(_values)
