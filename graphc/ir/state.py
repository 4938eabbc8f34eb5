"""The execution state of one thread: what lazy work reads and writes besides the graph.

Everything graphc used to keep in module-level lists (the live-tensor registry, the
module-scope, user-location and autodiff stacks, recording GradManagers, active traces,
visualisation captures, pending optimizer mutations, the default random stream) lives
in one :class:`ExecutionState` per thread, reached with :func:`current` and passed down
where needed. Two threads building and realizing graphs therefore never see each
other's pending tensors, recordings or random draws; what they share (the hash-consing
table, the realized-value table, the Program and kernel caches) holds no per-call
values and is lock-protected.

The fields are data: the layers that own them (``graphc.lazy``, ``graphc.autodiff``,
``graphc.jit``, ``graphc.viz``, ``graphc.optimizer``, ``graphc.random``) read and write
them, and no module-level list of hooks remains. Two fields hold objects with a small
protocol that ``graphc.lazy`` calls: the thread's active traces (``defer_realize``,
``note_rebind``) and visualisation captures (``record``), entered by ``with`` blocks
of the thread itself.

>>> st = current()
>>> st is current(), st.scopes, st.recording
(True, [], [])
>>> import threading
>>> other = []
>>> t = threading.Thread(target=lambda: other.append(current())); t.start(); t.join()
>>> other[0] is st
False
"""

from __future__ import annotations

import threading
import weakref
from typing import Any


class ExecutionState:
    """One thread's lazy-execution state (see the module docstring)."""

    __slots__ = ("scopes", "autodiff_depth", "pinned", "stamps", "trace_ops", "live",
                 "live_sweep_at", "graph_keepers", "kept", "recording", "visible_to",
                 "deferred", "traces", "captures", "mutated", "rng")

    def __init__(self) -> None:
        # Node metadata while building: module scopes, autodiff nesting, a pinned line.
        self.scopes: list[str] = []
        self.autodiff_depth = 0
        self.pinned: list[Any] = []
        # Sets every node built now is added to (the uids a recording GradManager
        # differentiates through), and the op list of the active trace, if any.
        self.stamps: list[set[int]] = []
        self.trace_ops: list | None = None
        # Live Tensors holding pending nodes (id → weakref), swept when read.
        self.live: dict[int, weakref.ref] = {}
        self.live_sweep_at = 1 << 12
        # GradManagers recording (in the order they began), how many keep the graph,
        # the Tensors realized meanwhile, and visibility while one runs backward.
        self.recording: list = []
        self.graph_keepers = 0
        self.kept: list[tuple[weakref.ref, Any]] = []
        self.visible_to: list[int] = []
        # Deferred gradients not yet computed (graphc.autodiff's markers).
        self.deferred: list = []
        # Active traces (innermost last) and visualisation captures: objects whose
        # methods graphc.lazy calls (defer_realize, note_rebind; record).
        self.traces: list = []
        self.captures: list = []
        # Tensors rebound to a pending value since the last optimizer step.
        self.mutated: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        # This thread's default random stream (graphc.random makes it on first use).
        self.rng: Any = None


class _Local(threading.local):
    def __init__(self) -> None:
        self.state = ExecutionState()


_local = _Local()


def current() -> ExecutionState:
    """The calling thread's execution state."""
    return _local.state
