"""The two doors of lazy state: every realization and every mutation passes here.

- :func:`realize` is the only place that computes pending nodes. It knows whether a
  trace is in progress (``realize_hooks``) and whether realized Tensors must keep their
  graphs because something may still differentiate through them (``keep_graph``);
  otherwise it releases them: each is pointed at a leaf holding its value, and the
  graph behind it is freed by reference counting (nodes never change).
- :func:`rebind` is the only place a Tensor changes which value it holds (``+=``,
  setitem, parameter and buffer updates); ``rebind_hooks`` observe it. (Releasing keeps
  the value, so it is no mutation and calls no hook.)
- A weak registry of live Tensors with pending nodes lets realization memoise every
  value a user still holds, and lets the optimizer find readers of a buffer.
"""

from __future__ import annotations

import functools
import os
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import interp
from .ir import Node, topo_order
from .ir.node import released_leaf
from .ir.values import _values, record

if TYPE_CHECKING:
    from .tensor import Tensor

# Past this many pending nodes in a chain, graphc realizes on its own so that a graph
# that is never read cannot grow without bound.
MAX_PENDING_DEPTH = 2000

# Keyed by id(): Tensor.__eq__ is elementwise, so a WeakSet (which compares members
# with ==) would evaluate a tensor comparison when the same tensor is tracked twice.
# Plain weakrefs without callbacks: every operation's result is tracked, and most die
# at once, so dead and realized entries are swept when the registry is read instead of
# by a callback per Tensor (a WeakValueDictionary costs several times more per step).
_live: dict[int, weakref.ref] = {}
_graph_keepers = [0]

realize_hooks: list[Callable[[list[Node]], None]] = []
# Called as hook(order) with the topological order of what a realization computes,
# before it runs; a hook returns nodes to compute with it (the order is walked again).
# Deferred gradients register one while they are pending (graphc.autodiff).
order_hooks: list[Callable[[list[Node]], list[Node]]] = []
# Called as hook(field, tensor, old, new) with field "data" (old/new are nodes) or
# "grad" (old/new are Tensors or None).
rebind_hooks: list[Callable[[str, Tensor, object, object], None]] = []
# graphc.jit hook: the active trace (innermost last). While one runs, realize() computes
# nothing: it calls ``trace.defer_realize(pending, caller_frame)``, which defers the
# nodes into the traced Program or raises TraceError when the caller needs a value.
tracing: list = []


BACKENDS = ("compiled", "interp")


def backend() -> str:
    """The execution backend: ``GRAPHC_BACKEND``, ``compiled`` (default) or ``interp``
    (the NumPy reference interpreter)."""
    return os.environ.get("GRAPHC_BACKEND", "compiled")


def track(tensor: Tensor) -> None:
    """Register a Tensor that holds a pending node; realize past the depth limit."""
    node = tensor._node
    if node.inputs and node.uid not in _values:
        key = id(tensor)
        old = _live.get(key)
        if old is not None and old() is not tensor:
            # A dead Tensor's id, reused: the new one goes last, as insertion order is
            # the order realization lists live values in (it shapes structural keys).
            del _live[key]
        _live[key] = weakref.ref(tensor)
        if node.depth > MAX_PENDING_DEPTH:
            realize([node])
        elif len(_live) > _sweep_at[0]:
            live_pending_tensors()


_sweep_at = [1 << 12]


def live_pending_tensors() -> list[Tensor]:
    """Live Tensors whose nodes are still pending (sweeping the others from the registry;
    a Tensor rebound to a pending node is tracked again)."""
    out = []
    stale = []
    for key, ref in _live.items():
        t = ref()
        if t is None or not t._node.inputs or t._node.uid in _values:
            stale.append(key)
        else:
            out.append(t)
    for key in stale:
        del _live[key]
    _sweep_at[0] = max(1 << 12, 2 * len(out))
    return out


def keep_graph() -> bool:
    """True while something may differentiate through realized nodes."""
    return _graph_keepers[0] > 0


# Tensors realized while the graph was kept (weakref to the Tensor, the node it held):
# released when the last keeper exits.
_kept: list[tuple[weakref.ref, Node]] = []
# Tensors returned by graphc.grad: they keep their graph while they live, so the
# gradient of a printed gradient works (PyTorch's ``create_graph=True``). Keyed by id().
_graph_holders: dict[int, weakref.ref] = {}


def hold_graph(tensor: Tensor) -> None:
    """Let ``tensor`` keep its graph when it is realized (a result of ``graphc.grad``)."""
    if len(_graph_holders) > _holders_sweep_at[0]:
        for key in [k for k, r in _graph_holders.items() if r() is None]:
            del _graph_holders[key]
        _holders_sweep_at[0] = max(1 << 10, 2 * len(_graph_holders))
    _graph_holders[id(tensor)] = weakref.ref(tensor)


_holders_sweep_at = [1 << 10]


def _holds_graph(tensor: Tensor) -> bool:
    ref = _graph_holders.get(id(tensor))
    return ref is not None and ref() is tensor


class keeping_graph:
    """While active, realized Tensors keep their graphs (GradManager recording).

    When the last keeper exits, Tensors realized meanwhile are released: each is rebound
    to a leaf holding its value, so memory stays bounded across training steps.
    """

    def __enter__(self) -> None:
        _graph_keepers[0] += 1

    def __exit__(self, *exc: object) -> None:
        _graph_keepers[0] -= 1
        if _graph_keepers[0] == 0:
            release_kept_graph()


def release_kept_graph() -> None:
    """Rebind the Tensors realized while the graph was kept to leaves of their values."""
    kept = list(_kept)
    _kept.clear()
    for ref, node in kept:
        t = ref()
        if t is not None and t._node is node:
            _release(t, node, node.buffer)


def _release(tensor: Tensor, node: Node, value: object) -> None:
    """Rebind a realized ``tensor`` to a leaf of its value, unless its graph is wanted."""
    if value is not None and not _holds_graph(tensor):
        tensor._node = released_leaf(node, value)


def realize(nodes: Iterable[Node], order: list[Node] | None = None,
            replacing: dict[int, Node] | None = None) -> None:
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
    where nothing else can see it (graphc/runtime/donation.py).
    """
    nodes = list(nodes)
    realized = _values
    pending = [n for n in nodes if n.buffer is None]  # (placeholders too: a trace's inputs)
    if not pending:
        return
    if tracing:  # graphc.jit hook: a trace defers realization (or refuses a value)
        tracing[-1].defer_realize(pending, sys._getframe(1))
        return
    for hook in realize_hooks:
        hook(pending)
    if len(pending) != len(nodes):
        order = None  # the caller's walk started at a realized node too
    if order_hooks:
        if order is None:
            order = topo_order(pending)
        extra = [n for hook in list(order_hooks) for n in hook(order)]
        if extra:  # deferred gradients whose forward graph this computes: them too
            pending += extra
            order = topo_order(pending)
    live = live_pending_tensors()
    memo = {t._node.uid for t in live}
    keep = keep_graph()
    # A kept graph may still be differentiated through the old values: keep them.
    values = _execute(pending, memo, order, None if keep else replacing)
    for node in pending:
        value = values.get(node.uid)
        if value is not None:
            record(node, value)
    for t in live:
        node = t._node
        value = values.get(node.uid)
        if value is None:
            continue  # not in this graph: still pending
        if node.uid not in realized:
            record(node, value)
        _live.pop(id(t), None)  # realized tensors need no tracking until rebound
        if keep:
            _kept.append((weakref.ref(t), node))
        else:
            _release(t, node, value)


def _execute(roots: list[Node], memo: set[int], order: list[Node] | None,
             replacing: dict[int, Node] | None = None) -> dict[int, object]:
    name = backend()
    if name == "interp":
        return interp.run(roots, memo)
    if name == "compiled":
        return _compiler().execute(roots, memo, order, replacing)
    raise ValueError(f"unknown GRAPHC_BACKEND {name!r}; valid: {', '.join(BACKENDS)}")


def rebind(tensor: Tensor, node: Node) -> None:
    """Make ``tensor`` hold ``node``: the one door for every mutation of a Tensor."""
    old = tensor._node
    tensor._node = node
    for hook in rebind_hooks:
        hook("data", tensor, old, node)
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
    for hook in rebind_hooks:
        hook("grad", tensor, old, grad)
