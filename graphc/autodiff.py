"""Automatic differentiation as a graph transform, ``GradManager`` and custom ``Function``.

Gradients are not a tape replayed in Python: :func:`grad` walks back from ``y`` over the
graph and calls each op's VJP rule (declared with the op in :mod:`graphc.ops`), which
emits ordinary nodes. They go through the same passes and fusion as the forward pass,
so forward, backward and update compile into one Program, and gradients of gradients
work because gradients are nodes like any other.

>>> import graphc, graphc.functional as F
>>> from graphc.autodiff import GradManager
>>> x = graphc.tensor([1., 3., 5.]).reshape(1, 3)
>>> w = graphc.tensor([2., 4., 6.]).reshape(3, 1)
>>> b = graphc.tensor(-1.)
>>> gm = GradManager().attach([w, b])
>>> with gm:
...     y = F.matmul(x, w) + b
...     gm.backward(y)
>>> w.grad.numpy().ravel().tolist(), b.grad.item()
([1.0, 3.0, 5.0], 1.0)
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import lazy
from .ir import Node, autodiff_marker, make_node, topo_order, user_location
from .ir import node as _node_module
from .ops import apply, get_op
from .ops.registry import Attrs
from .tensor import Tensor

__all__ = ["Function", "GradManager", "grad"]


def _differentiable_dtype(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.floating)


def _add(a: Node | None, b: Node) -> Node:
    return b if a is None else apply("add", [a, b])


def _ones_like(node: Node) -> Node:
    from .ir import const_node

    one = const_node(1, node.type.dtype, node.type.device)
    return one if node.type.shape == () else apply("broadcast_to", [one], shape=node.type.shape)


def vjp_graph(ys: Sequence[Node], dys: Sequence[Node], xs: Sequence[Node],
              through: Callable[[Node], bool] | None = None) -> list[Node | None]:
    """Gradient nodes of ``sum(ys * dys)`` with respect to each of ``xs`` (None if
    unconnected). ``through(node)`` limits which nodes gradients flow through."""
    x_ids = {x.uid for x in xs}
    order = topo_order(ys, stop=lambda n: not n.inputs or n.uid in x_ids)
    # Only nodes that depend on some x carry gradient.
    depends: set[int] = set()
    for node in order:
        if node.uid in x_ids or (
                (through is None or through(node))
                and any(i.uid in depends for i in node.inputs)):
            depends.add(node.uid)
    grads: dict[int, Node] = {}
    for y, dy in zip(ys, dys):
        if y.uid in depends:
            grads[y.uid] = _add(grads.get(y.uid), dy)
    pending_functions: dict[int, list[Node]] = {}
    for node in reversed(order):
        g = grads.get(node.uid)
        if g is None or node.uid in x_ids or node.uid not in depends or not node.inputs:
            continue
        op = get_op(node.op)
        if not op.differentiable:
            continue
        if node.op == "custom_grad":
            _custom_vjp(node, order, grads, depends, pending_functions)
            continue
        if op.vjp is None:
            raise NotImplementedError(f"{node.op}: no gradient rule (node built at "
                                      f"{node.meta.location})")
        for inp, gi in zip(node.inputs, op.vjp(node, g)):
            if gi is not None and inp.uid in depends and _differentiable_dtype(inp.type.dtype):
                if gi.type.dtype != inp.type.dtype:
                    gi = apply("astype", [gi], dtype=inp.type.dtype.name)
                grads[inp.uid] = _add(grads.get(inp.uid), gi)
    return [grads.get(x.uid) for x in xs]


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
    out = [Tensor._wrap(n) if n is not None else None for n in nodes]
    return out[0] if single else out


def _dys(ys: list[Tensor], dy: Any) -> list[Node]:
    if dy is None:
        return [_ones_like(y._node) for y in ys]
    dy_list = [dy] if isinstance(dy, Tensor) or not isinstance(dy, (list, tuple)) else list(dy)
    if len(dy_list) != len(ys):
        raise ValueError(f"backward: {len(ys)} outputs but {len(dy_list)} output gradients")
    out = []
    for y, d in zip(ys, dy_list):
        d = d if isinstance(d, Tensor) else Tensor(d, dtype=y.dtype)
        if d.shape != y.shape:
            d = d.astype(y.dtype)
            d = Tensor._wrap(apply("broadcast_to", [d._node], shape=y.shape))
        out.append(d.astype(y.dtype)._node)
    return out


# ---- GradManager ----------------------------------------------------------------

_recording: list[GradManager] = []


def _stamp(node: Node) -> None:
    for gm in _recording:
        gm._recorded.add(node.uid)


class GradManager:
    """MegEngine's GradManager: attach tensors, record a computation, backward.

    Only what is computed while recording is differentiated; ``backward`` accumulates
    into each attached tensor's ``.grad`` (``None`` → set, else add) and releases.
    """

    def __init__(self) -> None:
        self._attached: list[tuple[weakref.ref, list[Callable]]] = []
        self._recorded: set[int] = set()
        self._keeper: lazy.keeping_graph | None = None

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
            entry = next((e for e in self._attached if e[0]() is t), None)
            if entry is None:
                if self.recording:
                    # An intermediate attached mid-recording gets a node of its own, so
                    # only its uses from now on are differentiated with respect to it.
                    lazy.rebind(t, apply("identity", [t._node]))
                entry = (weakref.ref(t), [])
                self._attached.append(entry)
            entry[1].extend(cbs)
        return self

    def attached_tensors(self) -> list[Tensor]:
        """The attached tensors still alive, in attach order."""
        return [t for t in (ref() for ref, _ in self._attached) if t is not None]

    # -- recording ------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self in _recording

    def record(self) -> None:
        """Start recording (RuntimeError if this manager already records)."""
        if self.recording:
            raise RuntimeError("GradManager is already recording")
        self._recorded = set()
        for t in self.attached_tensors():
            self._recorded.add(t._node.uid)
        self._keeper = lazy.keeping_graph()
        self._keeper.__enter__()
        _recording.append(self)
        if _stamp not in _node_module.build_hooks:
            _node_module.build_hooks.append(_stamp)

    def release(self) -> None:
        """Stop recording and free what was kept for it (idempotent)."""
        if not self.recording:
            return
        _recording.remove(self)
        if not _recording and _stamp in _node_module.build_hooks:
            _node_module.build_hooks.remove(_stamp)
        self._recorded = set()
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
        """Accumulate d(y·dy)/dx into ``x.grad`` for every attached x, then release."""
        if y is None:
            self.release()
            return
        if not self.recording:
            raise RuntimeError("backward: this GradManager is not recording; call it inside "
                               "`with gm:` or after gm.record()")
        ys = [y] if isinstance(y, Tensor) else list(y)
        attached = self.attached_tensors()
        recorded = set(self._recorded)
        dys = _dys(ys, dy)
        with autodiff_marker():
            grads = vjp_graph([t._node for t in ys], dys, [t._node for t in attached],
                              through=lambda n: n.uid in recorded)
        callbacks = {id(ref()): cbs for ref, cbs in self._attached if ref() is not None}
        for t, g in zip(attached, grads):
            if g is None:
                continue
            gt = Tensor._wrap(g)
            for cb in callbacks.get(id(t), []):
                gt = cb(t, gt)
            t.grad = gt if t.grad is None else t.grad + gt
        self.release()

    def __or__(self, other: GradManager) -> GradManager:
        raise NotImplementedError("GradManager groups (gm | gm2) are not supported yet")


# ---- custom functions -----------------------------------------------------------

_function_ids = itertools.count()


class Function:
    """A differentiable operation with a user-written backward.

    >>> import graphc
    >>> class Square(Function):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x * x
    ...     def backward(self, dy):
    ...         return dy * 2 * self.x
    >>> x = graphc.tensor([3.])
    >>> graphc.grad(Square()(x).sum(), x).numpy()
    array([6.], dtype=float32)
    """

    def forward(self, *inputs: Tensor) -> Tensor | tuple[Tensor, ...]:
        raise NotImplementedError

    def backward(self, *output_grads: Tensor) -> Tensor | None | tuple:
        raise NotImplementedError

    def __call__(self, *inputs: Tensor) -> Any:
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{type(self).__name__}: inputs must be Tensors, got "
                                f"{type(t).__name__}")
        detached = [Tensor._wrap(apply("detach", [t._node])) for t in inputs]
        result = self.forward(*detached)
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        fid = next(_function_ids)
        wrapped = []
        for i, out in enumerate(outputs):
            node = make_node("custom_grad", (out._node, *[t._node for t in inputs]),
                             Attrs(function=fid, index=i, outputs=len(outputs)), out._node.type)
            node.value = self
            wrapped.append(Tensor._wrap(node))
        return tuple(wrapped) if isinstance(result, (tuple, list)) else wrapped[0]


def _custom_vjp(node: Node, order: list[Node], grads: dict[int, Node], depends: set[int],
                pending: dict[int, list[Node]]) -> None:
    """Call a Function's backward once all of its outputs' gradients are known."""
    fid = node.attrs["function"]
    siblings = [n for n in order if n.op == "custom_grad" and n.attrs["function"] == fid]
    seen = pending.setdefault(fid, [])
    seen.append(node)
    if len(seen) < len(siblings):
        return
    fn: Function = node.value
    n_out = node.attrs["outputs"]
    by_index = {n.attrs["index"]: n for n in siblings}
    out_grads = []
    for i in range(n_out):
        sib = by_index.get(i)
        g = grads.get(sib.uid) if sib is not None else None
        if g is None:
            ref = sib or node
            g = apply("broadcast_to", [_zero(ref)], shape=ref.type.shape) \
                if ref.type.shape else _zero(ref)
        out_grads.append(Tensor._wrap(g))
    result = fn.backward(*out_grads)
    in_grads = result if isinstance(result, (tuple, list)) else (result,)
    inputs = node.inputs[1:]
    if len(in_grads) != len(inputs):
        raise ValueError(f"{type(fn).__name__}.backward returned {len(in_grads)} gradients "
                         f"for {len(inputs)} inputs")
    for inp, gi in zip(inputs, in_grads):
        if gi is not None and inp.uid in depends and _differentiable_dtype(inp.type.dtype):
            grads[inp.uid] = _add(grads.get(inp.uid), gi._node)


def _zero(node: Node) -> Node:
    from .ir import const_node

    return const_node(0, node.type.dtype, node.type.device)
