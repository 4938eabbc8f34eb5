"""The two doors of lazy state: every realization and every mutation passes here.

- :func:`realize` is the only place that computes pending nodes. It knows whether a
  trace is in progress (``realize_hooks``) and whether realized nodes must keep their
  inputs because something may still differentiate through them (``keep_graph``).
- :func:`rebind` is the only place a Tensor changes which node it holds (``+=``,
  setitem, parameter and buffer updates); ``rebind_hooks`` observe it.
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
# before it runs; a hook that changed the graph returns True (the order is walked
# again). Deferred gradients register one while they are pending (graphc.autodiff).
order_hooks: list[Callable[[list[Node]], bool]] = []
# Called as hook(field, tensor, old, new) with field "data" (old/new are nodes) or
# "grad" (old/new are Tensors or None).
rebind_hooks: list[Callable[[str, Tensor, object, object], None]] = []
# Called as hook(nodes) with the nodes a realization computed, once they have forgotten
# their inputs: what was kept beside a node to compute it can go (composite expansions).
released_hooks: list[Callable[[list[Node]], None]] = []
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
    if node.buffer is None:
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
        if t is None or t._node.buffer is not None:
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


_kept: list = []  # weakrefs to nodes realized while the graph was kept


class keeping_graph:
    """While active, realized nodes keep their inputs (used by GradManager recording).

    When the last keeper exits, nodes realized meanwhile drop their inputs, so memory
    stays bounded across training steps.
    """

    def __enter__(self) -> None:
        _graph_keepers[0] += 1

    def __exit__(self, *exc: object) -> None:
        _graph_keepers[0] -= 1
        if _graph_keepers[0] == 0:
            release_kept_graph()


def release_kept_graph() -> None:
    """Let nodes realized while the graph was kept forget their inputs."""
    released = []
    for ref in _kept:
        node = ref()
        if node is not None and node.buffer is not None:
            node.release_inputs()
            released.append(node)
    _kept.clear()
    for hook in released_hooks:
        hook(released)


def realize(nodes: Iterable[Node], order: list[Node] | None = None,
            replacing: dict[int, Node] | None = None) -> None:
    """Compute every pending node in ``nodes`` and memoise its buffer.

    Live Tensors whose nodes lie inside the computed subgraph are memoised too, so a
    value the user still holds is never computed twice. ``order`` is
    ``topo_order(nodes)`` when the caller has walked them already (used only when every
    node in ``nodes`` is pending, so that it is the walk realization would make).
    ``replacing`` maps the uid of a node in ``nodes`` to the realized node the caller
    will rebind from it to that node right after (an optimizer's old parameter values):
    the compiled backend may then write the new value over the old buffer, where
    nothing else can see it (graphc/runtime/donation.py).
    """
    nodes = list(nodes)
    pending = [n for n in nodes if n.buffer is None]
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
        if any([hook(order) for hook in list(order_hooks)]):
            order = topo_order(pending)
    live = live_pending_tensors()
    memo = {t._node.uid for t in live}
    drop = not keep_graph()
    # A kept graph may still be differentiated through the old values: keep them.
    values = _execute(pending, memo, order, replacing if drop else None)
    done = set()
    computed = []
    for node in pending + [t._node for t in live]:
        if node.uid in values and node.uid not in done:
            done.add(node.uid)
            node.set_realized(values[node.uid], drop_inputs=drop)
            computed.append(node)
            if not drop:
                _kept.append(weakref.ref(node))
    if drop:
        for hook in released_hooks:
            hook(computed)
    for t in live:  # realized tensors need no tracking until they are rebound
        if t._node.buffer is not None:
            _live.pop(id(t), None)


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
