"""The two doors of lazy state: every realization and every mutation passes here.

- :func:`realize` is the only place that computes pending nodes. It reads the calling
  thread's execution state (graphc.ir.state): whether a trace is in progress, and
  whether realized Tensors must keep their graphs because something may still
  differentiate through them (``keep_graph``);
  otherwise it releases them: each is pointed at a leaf holding its value, and the
  graph behind it is freed by reference counting (nodes never change).
- :func:`rebind` is the only place a Tensor changes which value it holds (``+=``,
  setitem, parameter and buffer updates); it notes the change in the thread's state (for
  active traces and the next optimizer step). (Releasing keeps the value, so it is no
  mutation and notes nothing.)
- A weak registry of the thread's live Tensors with pending nodes lets realization
  memoise every value a user still holds, and lets the optimizer find readers of a
  buffer.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .ir import Node, topo_order
from .ir.graph import snapshot
from .ir.node import released_leaf
from .ir.state import ExecutionState, _local
from .ir.values import _values, record
from .runtime.donation import claim, expose

if TYPE_CHECKING:
    from .tensor import Tensor

# Past this many pending nodes in a chain, graphc realizes on its own so that a graph
# that is never read cannot grow without bound.
MAX_PENDING_DEPTH = 2000

# The calling thread's state (graphc.ir.state) holds the live-tensor registry (keyed by
# id(): Tensor.__eq__ is elementwise, so a WeakSet, which compares members with ==, would
# evaluate a tensor comparison; plain weakrefs without callbacks, swept when read, since
# most results die at once), the GradManagers recording, the active traces, the
# visualisation capture sinks, the deferred gradients and the pending mutations.


_NOTHING: frozenset = frozenset()


def active_traces() -> list:
    """The calling thread's active traces (graphc.jit), innermost last."""
    return _local.state.traces


def backend() -> str:
    """The execution backend: ``GRAPHC_BACKEND``, ``compiled`` (default) or ``interp``
    (the NumPy reference interpreter). Chosen in one place: ``graphc.runtime.compiler``'s
    ``prepare``, which realization and compiled functions both call."""
    return _compiler().backend()


def track(tensor: Tensor) -> None:
    """Register a Tensor that holds a pending node; realize past the depth limit."""
    node = tensor._node
    if node.inputs and node.uid not in _values:
        st = _local.state
        live = st.live
        key = id(tensor)
        old = live.get(key)
        if old is not None and old() is not tensor:
            # A dead Tensor's id, reused: the new one goes last, as insertion order is
            # the order realization lists live values in (it shapes structural keys).
            del live[key]
        live[key] = weakref.ref(tensor)
        if node.depth > MAX_PENDING_DEPTH:
            realize([node])
        elif len(live) > st.live_sweep_at:
            live_pending_tensors()


def live_pending_tensors() -> list[Tensor]:
    """Live Tensors whose nodes are still pending (sweeping the others from the registry;
    a Tensor rebound to a pending node is tracked again)."""
    st = _local.state
    live = st.live
    out = []
    stale = []
    for key, ref in live.items():
        t = ref()
        if t is None or not t._node.inputs or t._node.uid in _values:
            stale.append(key)
        else:
            out.append(t)
    for key in stale:
        del live[key]
    st.live_sweep_at = max(1 << 12, 2 * len(out))
    return out


def keep_graph() -> bool:
    """True while something in this thread may differentiate through realized nodes."""
    return _local.state.graph_keepers > 0


# Tensors returned by graphc.grad: they keep their graph while they live, so the
# gradient of a printed gradient works (PyTorch's ``create_graph=True``). Keyed by id().
_graph_holders: dict[int, weakref.ref] = {}


def hold_graph(tensor: Tensor) -> None:
    """Let ``tensor`` keep its graph when it is realized (a result of ``graphc.grad``)."""
    if len(_graph_holders) > _holders_sweep_at[0]:
        for key in [k for k, r in _graph_holders.copy().items() if r() is None]:
            del _graph_holders[key]
        _holders_sweep_at[0] = max(1 << 10, 2 * len(_graph_holders))
    _graph_holders[id(tensor)] = weakref.ref(tensor)


_holders_sweep_at = [1 << 10]


def graphs_held() -> bool:
    """Whether a live result of ``graphc.grad`` keeps its graph: it may be differentiated
    again through the values its graph read, so no step may overwrite them."""
    return any(ref() is not None for ref in _graph_holders.copy().values())


def _holds_graph(tensor: Tensor) -> bool:
    if not _graph_holders:
        return False
    ref = _graph_holders.get(id(tensor))
    return ref is not None and ref() is tensor


class keeping_graph:
    """While active, realized Tensors keep their graphs (GradManager recording).

    When the last keeper exits, Tensors realized meanwhile are released: each is rebound
    to a leaf holding its value, so memory stays bounded across training steps.
    """

    def __enter__(self) -> None:
        _local.state.graph_keepers += 1

    def __exit__(self, *exc: object) -> None:
        st = _local.state
        st.graph_keepers -= 1
        if st.graph_keepers == 0:
            release_kept_graph()


def release_kept_graph() -> None:
    """Rebind the Tensors realized while the graph was kept to leaves of their values."""
    st = _local.state
    kept, st.kept = st.kept, []
    for ref, node in kept:
        t = ref()
        if t is not None and t._node is node:
            _release(t, node, node.buffer)


def _release(tensor: Tensor, node: Node, value: object) -> None:
    """Rebind a realized ``tensor`` to a leaf of its value, unless its graph is wanted."""
    if value is not None and not _holds_graph(tensor):
        tensor._node = released_leaf(node, value)


def realize(nodes: Iterable[Node], order: list[Node] | None = None,
            replacing: dict[int, Node] | None = None,
            live: list[Tensor] | None = None) -> None:
    """Compute every pending node in ``nodes`` and record its value.

    Live Tensors whose nodes lie inside the computed subgraph are computed too, so a
    value the user still holds is never computed twice. Each realized Tensor is then
    rebound to a leaf holding its value (its graph is freed by reference counting),
    unless something may still differentiate through it: a recording GradManager (until
    it releases) or ``graphc.grad``, whose results keep their graphs while they live.
    ``order`` is ``topo_order(nodes)`` when the caller has walked them already (used only
    when every node in ``nodes`` is pending, so that it is the walk realization would
    make). ``replacing`` maps the uid of a node in ``nodes`` to the realized node the
    caller will rebind from it to that node right after (an optimizer's old parameter
    values): the compiled backend may then write the new value over the old buffer,
    where nothing else can see it (graphc/runtime/donation.py). ``live`` is
    ``live_pending_tensors()`` when the caller has just listed them (an optimizer step).
    """
    nodes = list(nodes)
    realized = _values
    pending = [n for n in nodes if n.buffer is None]  # (placeholders too: a trace's inputs)
    if not pending:
        return
    st = _local.state
    if st.traces:  # graphc.jit: a trace defers realization (or refuses a value)
        st.traces[-1].defer_realize(pending, sys._getframe(1))
        return
    if st.captures:  # graphc.viz.capture: the graphs realized, as they are now
        copies = snapshot(pending)
        for capture in st.captures:
            capture.record(copies)
    if len(pending) != len(nodes):
        order = None  # the caller's walk started at a realized node too
    if st.deferred:
        if order is None:
            order = topo_order(pending)
        extra = _stale_markers(st, order)
        if extra:  # deferred gradients whose forward graph this computes: them too
            pending += extra
            order = topo_order(pending)
    if live is None:
        live = live_pending_tensors()
    memo = {t._node.uid for t in live}
    keep = keep_graph()
    # A kept graph may still be differentiated through the old values: keep them.
    if keep or (replacing and _graph_holders and graphs_held()):
        replacing = None
    values = _compiler().execute(pending, memo, order, replacing)
    # A replacing value (an optimizer's new parameter) whose Tensor is released needs no
    # table entry: its node was built inside the caller's step, so no graph but the
    # released Tensor's reads it, and the node dies with the rebind.
    skip = replacing or _NOTHING
    registry, holders = st.live, _graph_holders
    claimed: set[int] = set()  # ids of the replacing values claimed in this loop
    released: dict[int, tuple[Node, object]] = {}  # nodes rebound from, not yet recorded
    still_pending = False
    for t in live:  # (the per-step hot path: the tests of _release inlined)
        node = t._node
        uid = node.uid
        value = values.get(uid)
        if value is None:
            still_pending = True  # not in this graph
            continue
        registry.pop(id(t), None)  # realized tensors need no tracking until rebound
        if keep:
            if uid not in realized:
                record(node, value)
            st.kept.append((weakref.ref(t), node))
        elif not holders or not _holds_graph(t):
            if uid in skip:  # a replacing value: its one holder owns it (donation.py)
                if id(value) in claimed:
                    expose(value)  # two Tensors on one replacing value
                else:
                    claimed.add(id(value))
                    claim(value)
            elif uid not in realized:
                released[uid] = (node, value)
            t._node = released_leaf(node, value)
        elif uid not in realized:
            record(node, value)
    # The values table serves graphs still to be computed (and callers reading
    # node.buffer). A node whose Tensors were all rebound to leaves is read by no such
    # graph unless a live Tensor of this thread is left pending (its graph may read the
    # node; every Tensor holding a pending node is live): only then does it need an
    # entry. (A typical step releases its loss and gradients and leaves nothing pending.)
    for node in pending:
        uid = node.uid
        if uid in skip or uid in realized or (uid in released and not still_pending):
            continue
        value = values.get(uid)
        if value is not None:
            record(node, value)
    if still_pending:
        for uid, (node, value) in released.items():
            if uid not in realized:
                record(node, value)


def rebind(tensor: Tensor, node: Node) -> None:
    """Make ``tensor`` hold ``node``: the one door for every mutation of a Tensor."""
    old = tensor._node
    tensor._node = node
    st = _local.state
    if node.inputs and node.uid not in _values:
        st.mutated[id(tensor)] = tensor  # an optimizer step realizes it with its update
    for trace in st.traces:
        trace.note_rebind("data", tensor, old)
    track(tensor)


@functools.cache
def _compiler() -> Any:
    from .runtime import compiler  # the runtime imports this module

    return compiler


@functools.cache
def _tensor_class() -> type:
    from .tensor import Tensor  # which imports this module

    return Tensor


def set_grad(tensor: Tensor, grad: Tensor | None) -> None:
    """Set ``tensor.grad``: the same door, for gradients."""
    if grad is not None and not isinstance(grad, _tensor_class()):
        raise TypeError(f"grad must be a Tensor or None, got {type(grad).__name__}")
    if grad is not None and grad.shape != tensor.shape:
        raise ValueError(f"grad of shape {grad.shape} for a tensor of shape {tensor.shape}")
    old = tensor._grad
    tensor._grad = grad
    for trace in _local.state.traces:
        trace.note_rebind("grad", tensor, old)


class Deferred:
    """The markers of one deferred backward (graphc.autodiff) and the uids of the
    forward nodes their VJP walks."""

    __slots__ = ("markers", "forward")

    def __init__(self, markers: list[Node], forward: set[int]) -> None:
        self.markers = [weakref.ref(m) for m in markers]
        self.forward = forward

    def pending(self) -> list[Node]:
        """The markers still alive and not yet computed."""
        out = []
        for ref in self.markers:
            m = ref()
            if m is not None and m.uid not in _values:
                out.append(m)
        return out


def _stale_markers(st: ExecutionState, order: list[Node]) -> list[Node]:
    """Before a realization of ``order``: the deferred markers whose forward graph it
    would compute in part without computing them too (they are computed with it: a
    step's structural key stops at realized nodes, so a marker must be computed before
    its forward graph is)."""
    computed = {n.uid for n in order}
    keep, stale = [], []
    for d in st.deferred:
        markers = d.pending()
        if not markers:
            continue
        if not d.forward.isdisjoint(computed) and not all(m.uid in computed
                                                          for m in markers):
            stale.extend(m for m in markers if m.uid not in computed)
        else:
            keep.append(d)
    st.deferred = keep
    return stale
