"""Tracing: run a Python function once on placeholders and capture what it computes.

While a :class:`Trace` is active (``graphc.lazy.tracing``):

- realization computes nothing. ``optimizer.step()``, ``graphc.realize`` and automatic
  realization just leave their nodes pending, so they become part of the one traced
  Program; a call that needs a *value* (``.numpy()``, ``.item()``, ``bool(t)``,
  boolean-mask indexing) raises :class:`TraceError` saying why (``graphc.jit.trace``'s
  hooks, :class:`graphc.jit.reads.GuardedTrace`, answer it instead);
- every mutation through ``graphc.lazy.rebind`` and every ``.grad`` change is recorded:
  the new values become outputs of the Program, written back after each call;
- every op built is recorded, so ``jit(check=True)`` can compare later calls with it
  (a trace made with ``expected`` raises at its end when they differ), except inside
  ``exclude_from_trace`` blocks (:meth:`Trace.begin_excluded`);
- ``optimizer.step()`` reports its optimizer. Its hyper-parameter scalars become bound
  state read from the parameter groups on every call (a new learning rate needs no
  retrace); what shapes its graph (a hyper-parameter turned from zero to non-zero,
  ``nesterov``, non-Tensor state) guards the trace: when it changes, the function is
  traced again.

Before tracing, every pending Tensor that can be realized is realized, so nothing
pending is frozen into the capture. After tracing, state is put back as it was; the
first run of the compiled Program then performs the traced call.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import dtypes, lazy
from ..device import canonical_device
from ..ir import Node, const_node, placeholder_node, topo_order
from ..ir.state import current
from ..random import drawn
from ..tensor import Tensor
from . import tree as trees
from .errors import TraceError
from .function import Capture, CompiledFunction
from .state import DataRef, GradRef, HyperRef, StateRef, buffer_leaf, find_owners

_GRAPHC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TENSOR_FILE = os.path.join(_GRAPHC_DIR, "tensor.py")
_INDEXING_FILE = os.path.join(_GRAPHC_DIR, "indexing.py")


def optimizer_fingerprint(opt: Any) -> tuple:
    """The Python-side state of an optimizer that a trace bakes in: what shapes its step's
    graph (``_trace_guard``), else every hyper-parameter and non-Tensor state."""
    guard = getattr(opt, "_trace_guard", None)
    if guard is not None:
        return guard()
    groups = tuple(tuple((k, v) for k, v in g.items() if k != "params")
                   for g in opt.param_groups)
    plain = tuple((k, v) for st in opt.state.values() for k, v in st.items()
                  if not isinstance(v, Tensor))
    return groups, plain


class Trace:
    """The hooks of one trace; see the module docstring. ``expected``: the trace of an
    earlier call that this one must repeat op for op (``jit(check=True)``)."""

    def __init__(self, name: str, expected: Traced | None = None) -> None:
        self.name = name
        self.expected = expected
        self.start_uid = 0  # set by begin(): the nodes built after it are traced
        self.data: dict[int, tuple[weakref.ref, Node]] = {}
        self.grads: dict[int, tuple[weakref.ref, Tensor | None]] = {}
        self.optimizers: list[tuple[Any, tuple]] = []
        self.scalars: list[Any] = []  # optimizer hyper-parameter scalars made while tracing
        self.ops: list[Node] = []
        self.inputs: list[tuple[Node, Any]] = []  # (placeholder, the argument it stands for)
        self.reads: list = []  # values read while tracing (graphc.jit.trace's guards)
        self.excluded = 0  # exclude_from_trace blocks open now: their ops are not recorded
        self.excludes = False  # whether the body had one
        self._recording: list | None = None

    def begin(self, inputs: list[tuple[Node, Any]]) -> None:
        """The trace starts now, on these (placeholder, argument) pairs."""
        self.inputs = inputs
        self.start_uid = _next_uid()

    def argument(self, placeholder: Tensor) -> Tensor:
        """What the body gets for an argument's placeholder."""
        return placeholder

    # -- hooks ----------------------------------------------------------------------
    def defer_realize(self, pending: list[Node], frame: Any) -> None:
        """Called by ``lazy.realize``: defer, or refuse when a value is needed."""
        method = value_read(frame)
        if method is not None:
            raise TraceError(_value_message(self.name, method, frame))

    def note_rebind(self, field: str, tensor: Tensor, old: Any) -> None:
        """``tensor``'s ``field`` ("data" or "grad") was rebound from ``old`` (called by
        graphc.lazy's rebind door while this trace is active in the thread)."""
        events = self.data if field == "data" else self.grads
        seen = events.get(id(tensor))
        if seen is None or seen[0]() is not tensor:
            events[id(tensor)] = (weakref.ref(tensor), old)

    def note_optimizer(self, opt: Any) -> None:
        if all(o is not opt for o, _ in self.optimizers):
            self.optimizers.append((opt, optimizer_fingerprint(opt)))

    def note_scalars(self, scalars: Any) -> None:
        """An optimizer's hyper-parameter scalars (:class:`graphc.optimizer.optimizer.
        Scalars`): bound to their parameter group, read on every call."""
        self.scalars.append(scalars)

    def __enter__(self) -> Trace:
        st = current()
        st.traces.append(self)
        self.outer_ops, st.trace_ops = st.trace_ops, self.ops  # nodes built are listed
        return self

    def __exit__(self, *exc: object) -> None:
        st = current()
        st.trace_ops = self.outer_ops
        _remove(st.traces, self)
        if exc[0] is None and self.expected is not None:
            why = path_difference((self.expected.ops, self.expected.locations),
                                  op_records(self.ops))
            if why is not None:
                raise TraceError(self.path_changed(why))

    def path_changed(self, why: str) -> str:
        """The message when a checked call's op sequence departs from the trace's."""
        return (f"{self.name}: the Python body took a different path than when it was "
                f"traced: {why}")

    def begin_excluded(self) -> None:
        """``exclude_from_trace``: the ops built until :meth:`end_excluded` are not
        recorded (they are still part of the traced graph)."""
        self.excluded += 1
        self.excludes = True
        if self.excluded == 1:
            st = current()
            self._recording, st.trace_ops = st.trace_ops, None

    def end_excluded(self) -> None:
        self.excluded -= 1
        if self.excluded == 0:
            current().trace_ops = self._recording

    def traced(self, node: Node) -> bool:
        return node.uid >= self.start_uid


def _next_uid() -> int:
    return const_node(0.5, np.float32, "cpux").uid  # (a scalar leaf: a fresh node)


def _remove(hooks: list, item: Any) -> None:
    for i in range(len(hooks) - 1, -1, -1):
        if hooks[i] is item or hooks[i] == item:
            del hooks[i]
            return


_SHOWN = {"numpy": ".numpy()", "item": ".item()", "tolist": ".tolist()",
          "__bool__": "bool(tensor) (an `if` or `while` on a tensor)",
          "__int__": "int(tensor)", "__float__": "float(tensor)",
          "__index__": "using a tensor as an index", "__repr__": "printing a tensor",
          "__array__": "np.asarray(tensor)"}


def _value_message(name: str, method: str, frame: Any) -> str:
    """Why a value was needed, in the user's terms, with a hint."""
    where, indexing = user_where(frame)
    if indexing and method in ("numpy", "__index__", "_value"):
        return (f"{name}: indexing with a boolean mask or a tensor-valued index (at {where}) "
                f"gives a result whose shape depends on the data, which a traced Program "
                f"cannot have. Hint: keep shapes static, e.g. F.where(mask, x, 0) instead of "
                f"x[mask], or do the indexing outside the traced function.")
    return (f"{name}: {shown(method)} at {where} needs the value of a tensor, but inside a traced "
            f"function tensors have no values yet. Return the tensor from the function and "
            f"read it after the call, or move this Python code out of the traced function.")


def value_read(frame: Any) -> str | None:
    """The outermost Tensor method (``numpy``, ``__bool__``, ...) asking for a value when
    the realization called from ``frame`` is a value read; None when it only realizes."""
    code = frame.f_code
    if code.co_filename != _TENSOR_FILE or code.co_name == "realize":
        return None
    method = "_value"  # bool → item → _value: the outermost one names the user's call
    f = frame.f_back
    while f is not None and f.f_code.co_filename == _TENSOR_FILE:
        method = f.f_code.co_name
        f = f.f_back
    return method


def shown(method: str) -> str:
    """A Tensor method that reads a value, as the user wrote it."""
    return _SHOWN.get(method, f"{method}()")


def user_where(frame: Any) -> tuple[str, bool]:
    """``file:line`` of the first frame outside graphc from ``frame`` outwards, and
    whether graphc's indexing code is on the way."""
    indexing = False
    f = frame
    while f is not None:
        filename = f.f_code.co_filename
        if filename == _INDEXING_FILE:
            indexing = True
        if not filename.startswith(_GRAPHC_DIR):
            return f"{os.path.basename(filename)}:{f.f_lineno}", indexing
        f = f.f_back
    return "<graphc>", indexing


def realize_pending_state() -> None:
    """Realize every live pending Tensor that does not read a placeholder."""
    live = lazy.live_pending_tensors()
    if not live:
        return
    symbolic: set[int] = set()
    for node in topo_order([t._node for t in live]):
        if node.op == "placeholder" or any(i.uid in symbolic for i in node.inputs):
            symbolic.add(node.uid)
    ready = [t._node for t in live if t._node.uid not in symbolic]
    if not ready:
        return
    try:
        lazy.realize(ready)
    except Exception:
        # Some unrelated tensor cannot be computed (say, an out-of-range label the user
        # never read). It must not break this trace: realize the others one by one and
        # leave the failing ones pending, so their error is raised where they are read.
        for node in ready:
            try:
                lazy.realize([node])
            except Exception:
                continue


def make_inputs(leaves: list, names: list[str]) -> list[Tensor]:
    """A placeholder Tensor for each tensor leaf of the arguments."""
    out = []
    for leaf, name in zip(leaves, names):
        if isinstance(leaf, Tensor):
            t = leaf._node.type
            node = placeholder_node(t.shape, t.dtype, t.device, name)
        else:
            dtype = dtypes.default_for_data(leaf.dtype)
            if leaf.dtype == object:
                raise TraceError(f"argument {name} is an array of Python objects")
            node = placeholder_node(leaf.shape, dtype, canonical_device(None), name)
        out.append(Tensor._wrap(node))
    return out


class Traced:
    """What one trace produced: the compiled function and how to call it again."""

    def __init__(self, function: CompiledFunction, trace: Trace, result: Any,
                 guards: list[tuple[Any, tuple]], grad_guards: list[tuple[GradRef, bool]]):
        self.function = function
        self.entry = function._current()
        self.ops, self.locations = op_records(trace.ops)
        self.reads = trace.reads
        self.excludes = trace.excludes
        self.result = result
        self.guards = guards
        self.grad_guards = grad_guards
        self.dtypes = [n.type.dtype for n in function.capture.inputs]
        self.out_types = [n.type for n in function.capture.outputs]
        self.pins: list = []

    def valid(self) -> bool:
        """Whether the Python-side state the trace baked in is unchanged."""
        for opt, fingerprint in self.guards:
            if optimizer_fingerprint(opt) != fingerprint:
                return False
        for ref, had in self.grad_guards:
            if ref.has_grad() is not had:
                return False
        return True


def op_records(nodes: list[Node]) -> tuple[list[tuple], list]:
    """The op sequence of a trace as compared between calls, and where each op was built."""
    return [(n.op, n.attrs, n.type) for n in nodes], [n.meta for n in nodes]


def path_difference(want: tuple[list[tuple], list], got: tuple[list[tuple], list]
                    ) -> str | None:
    """Where the op sequence ``got`` (records and locations, as :func:`op_records` gives)
    departs from ``want``, in words; None when they are the same."""
    (want_ops, want_at), (got_ops, got_at) = want, got
    for i, (a, b) in enumerate(zip(want_ops, got_ops)):
        if a != b:
            return (f"op {i} was {_op(a)} built at {want_at[i].location}, now {_op(b)} "
                    f"built at {got_at[i].location}")
    if len(want_ops) == len(got_ops):
        return None
    n = min(len(want_ops), len(got_ops))
    ops, at, which = (want_ops, want_at, "the trace") if len(want_ops) > n else \
        (got_ops, got_at, "this call")
    return (f"it built {len(got_ops)} ops where the trace built {len(want_ops)}; {which} "
            f"goes on with {_op(ops[n])} built at {at[n].location}")


def _op(entry: tuple) -> str:
    op, attrs, type = entry
    extra = f" {attrs!r}" if len(attrs) else ""
    return f"{op}{extra} -> {type}"


def trace_call(fn: Callable, name: str, tree: tuple, leaves: list,
               leaf_names: list[str], trace: Trace | None = None,
               constants: bool = False, check_only: bool = False) -> Traced | None:
    """Trace ``fn`` on the arguments ``tree`` (an ``(args, kwargs)`` tree over ``leaves``)
    with its tensor leaves as placeholders, compile it, and run it once (the traced
    call). ``trace`` is the hooks object to trace with (default: a :class:`Trace`);
    ``constants``: tensors the function reads but does not update are captured as
    constants (their values now), not bound as state read on every call.
    ``check_only``: only run the body (the hooks check it), put state back, return None."""
    realize_pending_state()
    placeholders = make_inputs(leaves, leaf_names)
    trace = Trace(name) if trace is None else trace
    targs, tkwargs = trees.unflatten(tree, [trace.argument(p) for p in placeholders])
    trace.begin([(p._node, leaf) for p, leaf in zip(placeholders, leaves)])
    try:
        with trace:
            result = fn(*targs, **tkwargs)
    except BaseException:
        _restore(trace)
        raise
    del targs, tkwargs
    if check_only:
        _restore(trace)
        return None
    out_leaves: list = []
    out_tree = trees.flatten(result, out_leaves, [], "output")
    for leaf in out_leaves:
        if not isinstance(leaf, Tensor):
            _restore(trace)
            raise TraceError(f"{name}: returned a NumPy array; return Tensors (computed "
                             f"from the arguments) or Python values")
    del result
    try:
        function, grad_guards = _capture(trace, name, placeholders, leaf_names, out_leaves,
                                         out_tree, constants)
    finally:
        _restore(trace)
    traced = Traced(function, trace, None, list(trace.optimizers), grad_guards)
    values = traced.entry.run(arrays_of(leaves, traced.dtypes), redraw=False)
    traced.result = wrap_outputs(traced, values)
    return traced


def _capture(trace: Trace, name: str, placeholders: list[Tensor], leaf_names: list[str],
             out_leaves: list[Tensor], out_tree: tuple, constants: bool = False
             ) -> tuple[CompiledFunction, list[tuple[GradRef, bool]]]:
    outputs = {id(t) for t in out_leaves}
    writes: list[tuple[StateRef, Node | None]] = []
    owners: dict[int, StateRef] = {}
    grad_guards: list[tuple[GradRef, bool]] = []
    final_grads: set[int] = set()
    for ref, old in trace.grads.values():
        t = ref()
        if t is None:
            continue
        gref = GradRef(t)
        grad_guards.append((gref, old is not None))
        final = t._grad
        if final is not None:
            final_grads.add(id(final))
        if old is not None and old._node.buffer is not None:
            owners[old._node.uid] = gref
            gref.fallback = old._node
        if final is not old or (final is not None and final._node.uid >= trace.start_uid):
            writes.append((gref, None if final is None else final._node))
    written: set[int] = set()
    for ref, old in trace.data.values():
        t = ref()
        if t is None or id(t) in final_grads:
            continue
        existing = not trace.traced(old) or old.buffer is not None
        if not existing and id(t) in outputs:
            continue
        dref = DataRef(t)
        if existing and old.buffer is not None:
            owners.setdefault(old.uid, dref)
            dref.fallback = old
        if t._node is not old:
            writes.append((dref, t._node))
            written.add(id(t))
    for t in lazy.live_pending_tensors():  # traced values stored outside the function
        node = t._node
        if (trace.traced(node) and node.op != "placeholder" and id(t) not in outputs
                and id(t) not in written and id(t) not in final_grads):
            writes.append((DataRef(t), node))
    out_nodes = [t._node for t in out_leaves]
    produced = out_nodes + [n for _, n in writes if n is not None]
    frontier = [n for n in topo_order(produced) if n.buffer is not None]
    draws = {n.uid: drawn[n] for n in frontier
             if trace.traced(n) and not n.inputs and n in drawn}
    for scalars in trace.scalars:  # optimizer hyper-parameters: read from the groups
        for tensor, value in scalars.bindings():
            owners.setdefault(tensor._node.uid, HyperRef(tensor, value))
    if constants:  # only state the function writes stays bound: the rest is read now
        updated = {id(ref) for ref, _ in writes}
        owners = {uid: ref for uid, ref in owners.items() if id(ref) in updated}
    else:
        unowned = [n for n in frontier if n.uid not in owners and n.uid not in draws
                   and n.op not in ("const", "scalar")]
        for uid, ref in find_owners(unowned).items():
            owners.setdefault(uid, ref)
    capture = Capture(name, [p._node for p in placeholders], list(leaf_names), out_nodes,
                      out_tree, writes, owners, draws, {})
    return CompiledFunction(capture), grad_guards


def _restore(trace: Trace) -> None:
    """Put state mutated while tracing back as it was before (the Program redoes it)."""
    for ref, old in trace.data.values():
        t = ref()
        if t is not None and (not trace.traced(old) or old.buffer is not None):
            lazy.rebind(t, old)
    for ref, old in trace.grads.values():
        t = ref()
        if t is not None:
            t._grad = old


def arrays_of(leaves: list, want: list[np.dtype]) -> list[np.ndarray]:
    """The values of the tensor leaves, as contiguous arrays of the traced dtypes."""
    out = []
    for leaf, dtype in zip(leaves, want):
        if type(leaf) is np.ndarray:
            if leaf.dtype != dtype or not leaf.flags.c_contiguous:
                leaf = np.ascontiguousarray(leaf, dtype=dtype)
            out.append(leaf)
        else:
            if leaf._node.buffer is None:
                lazy.realize([leaf._node])
            out.append(leaf._node.buffer)  # (a leaf of the value, once realized)
    return out


def wrap_outputs(traced: Traced, values: list) -> Any:
    """The call's results as realized Tensors, in the structure the body returned."""
    tensors = [Tensor._wrap(buffer_leaf(v, t)) for v, t in zip(values, traced.out_types)]
    return trees.unflatten(traced.function.capture.tree, tensors)

