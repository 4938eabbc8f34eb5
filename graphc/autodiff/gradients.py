"""Automatic differentiation as a graph transform: :func:`grad` (the VJP walk over the
graph), :class:`GradManager` (recording, attachments, deferred gradients) and
:class:`GradManagerGroup` (see :mod:`graphc.autodiff` for an example)."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import lazy
from ..ir import (
    DTypeError,
    Node,
    ShapeError,
    autodiff_marker,
    const_node,
    make_node,
    topo_order,
    user_location,
)
from ..ir.graph import is_input_free
from ..ir.state import ExecutionState, current
from ..ir.values import _values
from ..ops import OPS, apply, vjp_graph
from ..ops.registry import Attrs
from ..ops.vjp import _FLOAT_DTYPES
from ..ops.vjp import differentiable_dtype as _differentiable_dtype
from ..tensor import Tensor

__all__ = ["GradManager", "GradManagerGroup", "grad"]


def _ones_like(node: Node) -> Node:
    one = const_node(1, node.type.dtype, node.type.device)
    return one if node.type.shape == () else apply("broadcast_to", [one], shape=node.type.shape)


def grad(y: Tensor | Sequence[Tensor], xs: Tensor | Sequence[Tensor],
         dy: Tensor | Sequence[Tensor] | None = None) -> Any:
    """Lazy gradients of ``y`` (weighted by ``dy``, ones by default) with respect to ``xs``.

    Returns one Tensor (or None when ``y`` does not depend on it) per x, or a single
    value when ``xs`` is a single Tensor.

    >>> import graphc
    >>> x = graphc.tensor([1., 2.])
    >>> graphc.grad((x * x).sum(), x).numpy()
    array([2., 4.], dtype=float32)
    """
    single = isinstance(xs, Tensor)
    xs_list = [xs] if single else list(xs)
    ys = [y] if isinstance(y, Tensor) else list(y)
    dys = _dys(ys, dy)
    with autodiff_marker():
        nodes = vjp_graph([t._node for t in ys], dys, [x._node for x in xs_list])
    if any(n is None for n in nodes):
        _explain_missing(ys, xs_list, nodes)
    out = [Tensor._wrap(n) if n is not None else None for n in nodes]
    for t in out:  # differentiable again while referenced (PyTorch's create_graph=True)
        if t is not None:
            lazy.hold_graph(t)
    return out[0] if single else out


def _describe(node: Node) -> str:
    return (f"the {node.type.dtype.name} output of {node.op} of shape {node.type.shape} "
            f"(built at {node.meta.location})")


def _explain_missing(ys: list[Tensor], xs: list[Tensor], nodes: list) -> None:
    """A gradient is missing: if y's graph was released by an earlier realization, say
    so instead of silently returning None."""
    walked = topo_order([y._node for y in ys], stop=lambda n: not n.inputs)
    released = [n for n in walked if not n.inputs and n.meta.released_op is not None]
    if released:
        raise RuntimeError(
            f"grad: the graph of y was released when {released[0].meta.released_op} (built "
            f"at {released[0].meta.location}) was realized, so the gradient cannot reach x. "
            "Realize inside `with GradManager()` or `graphc.lazy.keeping_graph()`, or take "
            "gradients before realizing (results of graphc.grad keep their graphs).")


def _dys(ys: list[Tensor], dy: Any) -> list[Node]:
    """Output gradients: ones by default, else ``dy`` (broadcast to and cast like y)."""
    for y in ys:
        if not isinstance(y, Tensor):
            raise TypeError(f"grad: y must be a Tensor or a list of Tensors, got "
                            f"{type(y).__name__} ({user_location()})")
        if not _differentiable_dtype(y.dtype):
            raise DTypeError(f"grad: cannot differentiate {_describe(y._node)}: integer and "
                             f"bool outputs are not differentiable ({user_location()})")
    if dy is None:
        return [_ones_like(y._node) for y in ys]
    dy_list = [dy] if isinstance(dy, Tensor) or not isinstance(dy, (list, tuple)) else list(dy)
    if len(dy_list) != len(ys):
        raise ValueError(f"grad: {len(ys)} outputs but {len(dy_list)} output gradients "
                         f"({user_location()})")
    out = []
    for y, d in zip(ys, dy_list):
        d = d if isinstance(d, Tensor) else Tensor(d, dtype=y.dtype, device=y._node.type.device)
        d = d.astype(y.dtype)
        if d.shape != y.shape:
            try:
                d = Tensor._wrap(apply("broadcast_to", [d._node], shape=y.shape))
            except ShapeError:
                raise ShapeError(f"grad: dy of shape {d.shape} does not match "
                                 f"{_describe(y._node)} ({user_location()})") from None
        out.append(d._node)
    return out


# ---- GradManager ----------------------------------------------------------------

def _recording() -> list[GradManager]:
    """The calling thread's recording managers, in the order they began recording."""
    return current().recording


def _restamp(st: ExecutionState) -> None:
    """Point node building at the recorded sets of the managers that see what is built
    now: all recording managers, or while one runs backward, only those that began
    recording before it (MegEngine's visibility by order)."""
    visible = st.recording[:st.visible_to[-1]] if st.visible_to else st.recording
    st.stamps = [gm._recorded for gm in visible]


class GradManager:
    """MegEngine's GradManager: attach tensors, record a computation, backward.

    Only what is computed while recording is differentiated; ``backward`` accumulates
    into each attached tensor's ``.grad`` (``None`` → set, else add) and releases.
    Gradients are taken with respect to the value each tensor held when recording
    began (or when it was attached, mid-recording), through any later in-place update.
    """

    def __init__(self) -> None:
        self._attached: list[_Attachment] = []
        self._recorded: set[int] = set()
        self._keeper: lazy.keeping_graph | None = None
        self._group: tuple[GradManager, ...] = ()  # the managers it records with (gm | gm2)

    # -- attaching ------------------------------------------------------------------
    def attach(self, tensors: Tensor | Iterable[Tensor],
               callbacks: Callable | Iterable[Callable] | None = None) -> GradManager:
        """Attach tensors (one or an iterable) whose gradients ``backward`` computes.

        ``callbacks`` are called as ``cb(tensor, grad) -> grad`` in order before the
        gradient is accumulated. Attaching the same tensor again adds callbacks.
        """
        tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
        cbs = [] if callbacks is None else (
            [callbacks] if callable(callbacks) else list(callbacks))
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"attach: expected Tensors, got {type(t).__name__}")
            if not _differentiable_dtype(t.dtype):
                raise AssertionError(f"attach: only floating-point tensors can be attached, "
                                     f"got {t.dtype.name} ({user_location()})")
            entry = next((e for e in self._attached if e.ref() is t), None)
            if entry is None:
                entry = _Attachment(t)
                if self.recording:
                    # An intermediate attached mid-recording gets a node of its own, so
                    # only its uses from now on are differentiated with respect to it.
                    # Other managers keep their node: gradients pass through identity.
                    lazy.rebind(t, apply("identity", [t._node]))
                    entry.node = t._node
                self._attached.append(entry)
            entry.callbacks.extend(cbs)
        return self

    def attached_tensors(self) -> list[Tensor]:
        """The attached tensors still alive, in attach order."""
        return [t for t in (e.ref() for e in self._attached) if t is not None]

    # -- recording ------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """Whether this manager records in the calling thread."""
        return self in current().recording

    def record(self) -> None:
        """Start recording (RuntimeError if this manager already records)."""
        if self.recording:
            raise RuntimeError("GradManager is already recording")
        self._recorded = set()
        for entry in self._attached:
            t = entry.ref()
            entry.node = None if t is None else t._node
        self._attached = [e for e in self._attached if e.node is not None]
        self._keeper = lazy.keeping_graph()
        self._keeper.__enter__()
        st = current()
        st.recording.append(self)
        _restamp(st)

    def release(self) -> None:
        """Stop recording and free what was kept for it (idempotent)."""
        if not self.recording:
            return
        st = current()
        st.recording.remove(self)
        self._recorded = set()
        self._group = ()
        _restamp(st)
        for entry in self._attached:
            entry.node = None  # holds no graph once released
        if self._keeper is not None:
            self._keeper.__exit__(None, None, None)
            self._keeper = None

    def __enter__(self) -> GradManager:
        self.record()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- backward -------------------------------------------------------------------
    def backward(self, y: Tensor | Sequence[Tensor] | None = None,
                 dy: Tensor | Sequence[Tensor] | None = None) -> None:
        """Accumulate d(y·dy)/dx into ``x.grad`` for every attached x, then release.

        ``y=None`` only releases. As in MegEngine, either way it is an error when this
        manager is not recording.
        """
        if not self.recording:
            raise RuntimeError("backward: this GradManager is not recording; call it inside "
                               "`with gm:` or after gm.record()")
        try:
            if y is not None:
                st = current()
                st.visible_to.append(self._seen_by(st))
                _restamp(st)
                try:
                    self._accumulate([y] if isinstance(y, Tensor) else list(y), dy)
                finally:
                    st.visible_to.pop()
                    _restamp(st)
        finally:  # as MegEngine does: a failed backward still ends the recording
            self.release()

    def _accumulate(self, ys: list[Tensor], dy: Any) -> None:
        live = [(t, e) for e in self._attached if (t := e.ref()) is not None]
        recorded = self._recorded
        dys = _dys(ys, dy)
        y_nodes, x_nodes = [t._node for t in ys], [e.node for _, e in live]
        with autodiff_marker():
            grads = _deferred_gradients(y_nodes, dys, x_nodes, recorded)
            if grads is None:
                recorded = set(recorded)
                grads = vjp_graph(y_nodes, dys, x_nodes, through=lambda n: n.uid in recorded)
        for (t, entry), g in zip(live, grads):
            if g is None:
                continue
            gt = Tensor._wrap(g)
            for cb in entry.callbacks:
                gt = cb(t, gt)
            t.grad = gt if t.grad is None else t.grad + gt

    def _seen_by(self, st: ExecutionState) -> int:
        """How many recording managers see the backward this one builds: those that
        began recording before it or, in a group, before the group (MegEngine)."""
        peers = [gm for gm in self._group if gm in st.recording] or [self]
        return min(st.recording.index(gm) for gm in peers)

    def __or__(self, other: GradManager | GradManagerGroup) -> GradManagerGroup:
        """``gm | gm2``: a :class:`GradManagerGroup` recording both at once."""
        return GradManagerGroup([self]) | other

    __ror__ = __or__


class GradManagerGroup:
    """Several GradManagers that record together (MegEngine's ``gm | gm2``).

    ``with gm | gm2:`` records every member; each member's ``backward`` works as
    alone, and no member records what another member's backward builds (they are at
    one level, where nested managers see the backward of those inside them).

    >>> import graphc, graphc.functional as F
    >>> x = graphc.tensor([0.0, 1.0])
    >>> gm, gm2 = GradManager().attach(x), GradManager().attach(x)
    >>> with gm | gm2:
    ...     y = F.sin(x)
    ...     gm.backward(y)
    ...     gm2.backward(y)
    >>> [round(g, 4) for g in x.grad.numpy().tolist()]  # 2 cos(x): both accumulate
    [2.0, 1.0806]
    """

    def __init__(self, managers: Iterable[GradManager]) -> None:
        self._gms = list(managers)

    def merge_with(self, other: GradManager | GradManagerGroup) -> GradManagerGroup:
        """The group of this group's managers and ``other``'s."""
        if isinstance(other, GradManager):
            other = GradManagerGroup([other])
        elif not isinstance(other, GradManagerGroup):
            return NotImplemented
        return GradManagerGroup([*self._gms, *other._gms])

    __or__ = merge_with
    __ror__ = merge_with

    def __enter__(self) -> GradManagerGroup:
        started: list[GradManager] = []
        try:
            for gm in self._gms:
                gm.record()  # RuntimeError if one records already (or appears twice)
                started.append(gm)
        except BaseException:
            for gm in reversed(started):
                gm.release()
            raise
        for gm in self._gms:
            gm._group = tuple(self._gms)
        return self

    def __exit__(self, *exc: object) -> None:
        for gm in reversed(self._gms):
            gm.release()


class _Attachment:
    """One attached tensor (held weakly), its callbacks, and while recording the node
    gradients are taken with respect to."""

    __slots__ = ("ref", "callbacks", "node")

    def __init__(self, tensor: Tensor) -> None:
        self.ref = weakref.ref(tensor)
        self.callbacks: list[Callable] = []
        self.node: Node | None = None


# ---- deferred gradients -----------------------------------------------------------
#
# GradManager.backward does not build the VJP graph on the spot when it can avoid it: it
# builds one ``grad_of`` marker per attached tensor, and the ``lower`` pass builds the
# VJP graph when the step compiles (once per structure, not once per step). A step's
# structural key covers the forward graph through the markers while it is pending; a
# realization that would compute part of that graph without the markers computes them
# with it (``_stale_markers``), so a marker's key never stops at a forward value it
# would have to differentiate through.


def _deferred_gradients(ys: list[Node], dys: list[Node], xs: list[Node],
                        recorded: set[int]) -> list[Node | None] | None:
    """``grad_of`` markers for the xs that ``ys`` depend on (None for the others), or
    None when the backward must be built now: while tracing, when another manager
    records (it may differentiate these gradients), or when the forward graph holds
    realized nodes, custom Functions, other deferred gradients, or a dependency the
    recording did not see (gradients must not flow through it)."""
    st = current()
    if st.traces or len(st.recording) > 1 or not xs:
        return None
    order = topo_order(list(ys) + list(dys), stop=is_input_free)
    reach = {x.uid: 1 << j for j, x in enumerate(xs)}  # uid → the xs it depends on
    forward: set[int] = set()
    ops, floats, get, realized = OPS, _FLOAT_DTYPES, reach.get, _values
    for node in order:  # a loop with the tests inlined: the per-step hot path
        inputs = node.inputs
        if not inputs:
            continue
        uid = node.uid
        if uid in realized or node.op == "custom_grad":
            return None
        op = ops[node.op]
        if op.marker:  # another deferred gradient
            return None
        forward.add(uid)
        dtype = node.type.dtype
        if op.differentiable and (floats.get(dtype) or _differentiable_dtype(dtype)):
            carried = 0
            for i in inputs:
                carried |= get(i.uid, 0)
            if carried:
                if uid not in recorded:
                    return None
                reach[uid] = carried | get(uid, 0)
    wanted = 0
    for y in ys:
        wanted |= reach.get(y.uid, 0)
    inputs = tuple(ys) + tuple(dys) + tuple(xs)
    grads: list[Node | None] = []
    markers = []
    for j, x in enumerate(xs):
        if wanted >> j & 1:
            m = make_node("grad_of", inputs, _marker_attrs(len(ys), j), x.type)
            markers.append(m)
            grads.append(m)
        else:
            grads.append(None)
    if markers:
        st.deferred.append(lazy.Deferred(markers, forward))
    return grads


@functools.lru_cache(maxsize=1024)
def _marker_attrs(n_ys: int, x: int) -> Attrs:
    return Attrs(n_ys=n_ys, x=x)
