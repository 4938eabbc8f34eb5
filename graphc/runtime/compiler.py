"""Compile a pending graph into a Program, cache it, and run it.

``execute`` is what realization calls: it looks the pending subgraph up by structural
key (same model, next batch → same key), compiles on a miss (passes → fuse → schedule →
plan_memory → codegen), and runs the Program on the current buffers and scalars.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .. import interp
from ..codegen.cpu import KernelSource, render_kernel
from ..codegen.in_place import in_place_pairs, in_place_source
from ..ir import FusedGraph, Graph, Kernel, Node, is_frontier, structural_key, topo_order
from ..ir.node import SCALAR_OPS
from ..ir.values import _values, forget
from ..ops import computes_exactly, get_op
from ..passes import run_pipeline
from ..passes.memory import MemoryPlan, plan_memory
from .donation import donations, replaced_pairs
from .kernel_calls import CallPlan
from .program import (
    ARENA,
    DONATED,
    RESERVED_SLOTS,
    InPlace,
    Program,
    Step,
    StepError,
    library_step,
    loop_step,
    overwritable,
)

# Programs kept in memory, least recently used evicted first (with their buffers).
MAX_PROGRAMS = 256
# A graph seen for the first time whose values are all this small, made only of ops a
# kernel computes with their reference's bits (graphc/ops/exact.py), runs in the
# interpreter: compiling it would cost more than it saves unless it recurs, and its
# later, compiled realizations give the same bits. Any other graph compiles at once.
TINY_ELEMENTS = 4096

_programs: OrderedDict = OrderedDict()
_sightings: dict = {}
# The Program cache is shared by every thread: its reads and writes hold _cache_lock (an
# OrderedDict's move_to_end and popitem are not atomic); compiling holds _compile_lock.
_cache_lock = threading.Lock()
_compile_lock = threading.RLock()
stats = {"programs_compiled": 0, "program_hits": 0, "interpreted": 0, "compile_seconds": 0.0}


@dataclass
class Compiled:
    """A Program with what produced it (for ``explain``)."""

    program: Program
    fused: FusedGraph | None
    kernels: list[KernelSource | Kernel]
    plan: MemoryPlan
    compile_seconds: float
    calls: CallPlan | None = None  # the kernel calls' arguments, predictable before a run

    def without_graph(self) -> Compiled:
        """This Compiled without the graph it was built from, which is what the Program
        cache keeps: the fused graph and the kernel descriptions reach the first call's
        nodes, and through them its buffers (a model's initial weights, the first batch)
        and the values its caller is about to replace (which could then never be
        updated in place). Counts stay in ``program.stats``."""
        return replace(self, fused=None, kernels=[])


def _runtime_value(node: Node):
    if node.op in SCALAR_OPS:
        return node.type.dtype.type(node.value)
    value = node.data if not node.inputs else _values.get(node.uid)
    if value is None:
        raise RuntimeError(f"{node.op} node %{node.uid} has no value (built at "
                           f"{node.meta.location})")
    return value


def _fresh(type) -> Callable[[list], np.ndarray]:
    """An allocator of a new array of ``type`` per call (outputs: handed to the caller)."""
    return lambda vals, shape=type.shape, dtype=type.dtype: np.empty(shape, dtype)


def _view_fn(chain: list[Node]):
    """NumPy views for a chain of movement nodes (base first)."""
    ops = [(get_op(n.op).reference, n.attrs) for n in chain]

    def view(a: np.ndarray) -> np.ndarray:
        for ref, attrs in ops:
            a = ref([a], attrs)
        return a

    return view


class _Builder:
    def __init__(self, fused: FusedGraph, args: list[Node], outputs: list[Node],
                 plan: MemoryPlan, updates: set[tuple[int, int]] = frozenset(),
                 key_index: dict[int, int] | None = None) -> None:
        self.fused = fused
        # id(NodeMeta) → position in the structural key's order of the node built with it
        # (passes keep a node's metadata object when they rebuild it): a failing step
        # names the line of the node at that position in the failing call's graph.
        self.key_index = key_index or {}
        self.updates = updates  # (argument index, output index) pairs to prefer
        self.plan = plan
        self.slot_of: dict[int, int] = {}
        self.slot_type: list = [None] * RESERVED_SLOTS  # TensorType of each slot's value
        self.steps: list[Step] = []
        self.n_slots = RESERVED_SLOTS  # a call's arena and donated switches come first
        self.runtime_scalars = {a.uid for a in args if a.op == "scalar"}
        self.arg_slots = [self.slot(a) for a in args]
        self.constants: dict[int, object] = {}
        self.n_switches = 0
        self.sources: list = []
        self.outputs = outputs
        self.output_uids = {o.uid for o in outputs}
        self.view_base: dict[int, int] = {}  # slot of a view step's result → its base slot
        # What each step does, for predicting kernel argument types before the first run
        # (see CallPlan): step index → ("view", src, dst, fn) | ("const", dst, value) |
        # ("loop", dispatcher, params, sizes, source).
        self.step_info: dict[int, tuple] = {}
        # Steps that may write their result into an argument's buffer: (step index,
        # argument slot, result slot, switch), the switch an int a call turns on.
        self.in_place: list[tuple[int, int, int, int]] = []

    def switch(self) -> int:
        """A new in-place switch (see Program.run)."""
        self.n_switches += 1
        return self.n_switches - 1

    def slot(self, node: Node) -> int:
        if node.uid not in self.slot_of:
            self.slot_of[node.uid] = self.n_slots
            self.slot_type.append(node.type)
            self.n_slots += 1
        return self.slot_of[node.uid]

    def array_slot(self, node: Node) -> int:
        """The slot holding ``node`` as an array, adding view steps for free nodes."""
        if node.uid in self.slot_of:
            return self.slot_of[node.uid]
        if node.uid in self.fused.free:
            chain = []
            cur = node
            while cur.uid in self.fused.free:
                chain.append(cur)
                cur = cur.inputs[0]
            src = self.array_slot(cur)
            dst = self.slot(node)
            self.view_base[dst] = self.view_base.get(src, src)
            view = _view_fn(list(reversed(chain)))
            self.step_info[len(self.steps)] = ("view", src, dst, view)
            self.steps.append(Step(f"view {node.op}", lambda v, s=src, d=dst, f=view:
                                   v.__setitem__(d, f(v[s])), (src,), (dst,)))
            return dst
        if is_frontier(node):  # a baked constant (folded or in the key)
            dst = self.slot(node)
            value = np.asarray(node.value if node.op in SCALAR_OPS else node.buffer,
                               dtype=node.type.dtype)
            self.step_info[len(self.steps)] = ("const", dst, value)
            self.steps.append(Step("const", lambda v, d=dst, c=value: v.__setitem__(d, c),
                                   (), (dst,)))
            return dst
        raise AssertionError(f"no value for %{node.uid} {node.op}")

    def allocator(self, node: Node):
        dtype = node.type.dtype
        if node.uid in self.plan.buffer_of:
            b = self.plan.buffer_of[node.uid]

            def reused(vals, b=b, shape=node.type.shape, dtype=dtype):
                arena = vals[ARENA]  # this call's planned buffers
                buf = arena[b]
                if buf is None:
                    buf = arena[b] = np.empty(shape, dtype)
                return buf

            return reused
        return _fresh(node.type)

    def loop_kernel(self, kernel: Kernel) -> None:
        from ..codegen.cache import load_kernel  # imports numba: only when compiling

        ks = render_kernel(self.fused, kernel, self.runtime_scalars)
        self.sources.append(ks)
        dispatcher = load_kernel(ks.source)
        params = []
        outs = []
        for p in ks.params:
            if p.kind == "out":
                s = self.slot(p.node)
                params.append(("out", s))
                outs.append((s, self.allocator(p.node)))
            elif p.kind == "scalar":
                params.append(("scalar", self.slot(p.node)))
            else:
                params.append(("in", self.array_slot(p.node)))
        sizes = np.array(ks.sizes or [0], dtype=np.int64)
        plain = all(p.node.type.dtype != np.float16 for p in ks.params)
        variant = self._loop_in_place(ks, params, outs) if plain else None
        if plain:  # float16 arguments are converted at the call: not predicted
            self.step_info[len(self.steps)] = ("loop", dispatcher, params, sizes, ks.source,
                                               variant)
        self.steps.append(loop_step(kernel.name, dispatcher, params, outs, sizes, plain,
                                    variant))

    def _loop_in_place(self, ks: KernelSource, params: list[tuple[str, int]],
                       outs: list[tuple[int, object]]) -> InPlace | None:
        """The in-place variant of a loop kernel (graphc.codegen.in_place) for outputs
        that leave the Program and are computed element by element from an argument of
        their type read directly (a state update); None if it has none. The outputs it
        can merge get fresh arrays when not donated: an output pool would keep a
        reference to the array the caller holds next, which could then never be donated.
        """
        candidates = []
        for o, p in enumerate(ks.params):
            if p.kind != "out" or p.node.uid not in self.output_uids:
                continue
            for i, q in enumerate(ks.params):
                slot = params[i][1]
                if (q.kind == "in" and q.node.type == p.node.type and slot in self.arg_slots
                        and slot not in self.view_base):
                    candidates.append((i, o))
        # An output may be computable over several inputs of its type (a new momentum
        # buffer over the weight it also reads): the pairs the caller will donate first.
        output_index = {n.uid: j for j, n in enumerate(self.outputs)}
        candidates.sort(key=lambda c: (self.arg_slots.index(params[c[0]][1]),
                                       output_index[ks.params[c[1]].node.uid])
                        not in self.updates)
        used_in, used_out, unique = set(), set(), []
        for i, o in in_place_pairs(ks, candidates):  # one input per output and back
            if i not in used_in and o not in used_out:
                used_in.add(i)
                used_out.add(o)
                unique.append((i, o))
        if not unique:
            return None
        out_of = dict(unique)
        pairs = []
        for i, o in unique:
            switch = self.switch()
            arg_slot, out_slot = params[i][1], params[o][1]
            self.in_place.append((len(self.steps), arg_slot, out_slot, switch))
            pairs.append((arg_slot, out_slot, switch))
        merged_outs = set(out_of.values())
        fresh = {params[o][1] for o in merged_outs}
        outs[:] = [(slot, _fresh(self.slot_type[slot]) if slot in fresh else alloc)
                   for slot, alloc in outs]
        variant_params = [("in", params[out_of[n]][1]) if n in out_of else params[n]
                          for n in range(len(params)) if n not in merged_outs]
        return InPlace(in_place_source(ks, unique), variant_params, pairs)

    def library_kernel(self, kernel: Kernel) -> None:
        (node,) = kernel.members
        self.sources.append(kernel)
        in_slots = [self.array_slot(i) for i in node.inputs]
        out = self.slot(node)
        op = get_op(node.op)
        dtype = node.type.dtype
        donor = self._in_place_donor(node, op, in_slots)
        if donor is not None:  # may update an argument in place (see _in_place_pairs)
            switch = self.switch()
            self.in_place.append((len(self.steps), in_slots[donor], out, switch))
            shape, lib, attrs = node.type.shape, op.library, node.attrs

            def fn(vals, *xs, switch=switch, donor=donor, lib=lib, attrs=attrs, shape=shape,
                   dtype=dtype):
                c = xs[donor]
                out = c if overwritable(c, switch in vals[DONATED]) else np.empty(shape, dtype)
                lib(xs, attrs, out)
                return out
        elif op.library is not None:  # the op's fast implementation, into a planned buffer
            alloc, lib, attrs = self.allocator(node), op.library, node.attrs

            def fn(vals, *xs, alloc=alloc, lib=lib, attrs=attrs):
                out = alloc(vals)
                lib(xs, attrs, out)
                return out
        else:
            ref, attrs = op.reference, node.attrs

            def fn(vals, *xs, ref=ref, attrs=attrs, dtype=dtype):
                with np.errstate(all="ignore"):
                    return np.asarray(ref(list(xs), attrs), dtype=dtype)
        self.steps.append(library_step(kernel.name, fn, in_slots, out, node.meta.location,
                                       node.op, self.key_index.get(id(node.meta))))

    def _in_place_donor(self, node: Node, op, in_slots: list[int]) -> int | None:
        """The input of ``node`` whose buffer its library may update in place: an op
        that can, reading a C-contiguous argument directly (not through a view), whose
        result leaves the Program (an update the caller writes back)."""
        i = op.in_place_input
        if i is None or node.uid not in self.output_uids:
            return None
        slot = in_slots[i]
        if slot not in self.arg_slots or slot in self.view_base:
            return None
        return i

    def _in_place_pairs(self, output_slots: list[int]) -> dict[tuple[int, int], int]:
        """``(argument index, output index) → switch`` for each update Program.run may
        do in place: no later step reads the argument (or a view of it), the step reads
        it through no other input, and no output is the argument or a view of it."""
        base = self.view_base
        pairs: dict[tuple[int, int], int] = {}
        for index, arg_slot, out_slot, switch in self.in_place:
            step = self.steps[index]
            readers = [base.get(s, s) for s in step.reads].count(arg_slot)
            later = any(base.get(s, s) == arg_slot
                        for t in self.steps[index + 1:] for s in t.reads)
            aliased = any(base.get(s, s) == arg_slot for s in output_slots)
            if readers != 1 or later or aliased:
                continue
            arg = self.arg_slots.index(arg_slot)
            for j, s in enumerate(output_slots):
                if s == out_slot:
                    pairs[(arg, j)] = switch
        return pairs

    def build(self) -> Program:
        for kernel in self.fused.kernels:
            if kernel.kind == "library":
                self.library_kernel(kernel)
            else:
                self.loop_kernel(kernel)
        output_slots = [self.array_slot(o) if o.uid not in self.slot_of else self.slot_of[o.uid]
                        for o in self.outputs]
        kernels = [k.source if isinstance(k, KernelSource) else k.name  # text, no nodes
                   for k in self.sources]
        program = Program(self.steps, self.n_slots, self.arg_slots, output_slots,
                          kernels, in_place=self._in_place_pairs(output_slots),
                          n_planned=len(self.plan.buffers))
        self.calls = CallPlan(self.step_info, self.slot_type, self.arg_slots)
        program.first_run = self.calls.parallel_compile_hook()
        return program


def compile_outputs(outputs: list[Node], args: list[Node] | None = None,
                    updates: set[tuple[int, int]] | None = None) -> Compiled:
    """Run the whole pipeline on the pending graph of ``outputs`` (no cache). ``updates``:
    the (argument index, output index) pairs to prefer for in-place kernels."""
    t0 = time.perf_counter()
    if args is None:
        _, args = structural_key(outputs)
    key_index = {}
    for k, n in enumerate(topo_order(outputs)):  # the key's order (see execute)
        key_index.setdefault(id(n.meta), k)
    graph = run_pipeline(Graph(tuple(outputs)))
    from ..passes.fusion import fuse
    from ..passes.schedule import schedule

    fused = schedule(fuse(graph))
    plan = plan_memory(fused, list(graph.outputs))
    builder = _Builder(fused, args, list(graph.outputs), plan, updates or set(), key_index)
    program = builder.build()
    seconds = time.perf_counter() - t0
    program.stats.update(compile_seconds=seconds, kernels=len(fused.kernels),
                         planned_bytes=plan.planned_bytes)
    return Compiled(program, fused, builder.sources, plan, seconds, builder.calls)


class _Key:
    """A structural key with its hash computed once: a step's key is a tuple of some
    hundred entries, and one realization looks it up several times (seen, cached, LRU).
    Indexing reads the key tuple (``key[0]`` is its entries)."""

    __slots__ = ("key", "_hash")

    def __init__(self, key: tuple) -> None:
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Key):
            return self._hash == other._hash and self.key == other.key
        return NotImplemented

    def __getitem__(self, i: int):
        return self.key[i]


def _log_miss(key: tuple, n_kernels: int) -> None:
    entries = key[0]
    best, best_same = None, -1
    with _cache_lock:
        cached_keys = list(_programs)
    for other in cached_keys:
        same = sum(a == b for a, b in zip(other[0], entries))
        if same > best_same:
            best, best_same = other, same
    if best is None:
        detail = "no program cached yet"
    else:
        cached = best[0]
        first = next((i for i, (a, b) in enumerate(zip(cached, entries)) if a != b), None)
        parts = []
        if len(cached) != len(entries):
            parts.append(f"{len(entries)} nodes vs {len(cached)} in the nearest cached program")
        if first is not None:
            parts.append(f"node {first} differs: cached {_entry(cached[first])}, "
                         f"now {_entry(entries[first])}")
        detail = "; ".join(parts) or "the outputs differ"
    print(f"graphc: compiled a program of {n_kernels} kernel(s); {detail}", file=sys.stderr)


def _entry(entry: tuple) -> str:
    kind = entry[0]
    ty = entry[2] if kind not in ("arg", "scalar", "const") else entry[1]
    return f"{kind} {ty}"


def lookup_or_compile(outputs: list[Node], keyed: tuple | None = None,
                      updates: Callable[[list[Node]], set[tuple[int, int]]] | None = None
                      ) -> tuple[Compiled, list[Node]]:
    """The cached Compiled for ``outputs``' structure (compiling on a miss) and its args.

    ``keyed`` is ``structural_key(outputs)`` when the caller has it already. ``updates``
    gives, from the args, the (argument index, output index) pairs the caller means to
    donate (a state and its new value); on a miss the compiler pairs those first when it
    builds in-place kernels."""
    key, args = keyed or structural_key(outputs)
    if not isinstance(key, _Key):
        key = _Key(key)
    compiled = _cached(key)
    if compiled is None:
        with _compile_lock:  # one compile at a time: a second thread then finds it cached
            compiled = _cached(key)
            if compiled is None:
                compiled = compile_outputs(outputs, args, updates(args) if updates else None)
                stats["programs_compiled"] += 1
                stats["compile_seconds"] += compiled.compile_seconds
                if os.environ.get("GRAPHC_LOG_COMPILES"):
                    _log_miss(key, len(compiled.fused.kernels))
                compiled = compiled.without_graph()
                with _cache_lock:
                    _programs[key] = compiled
                    while len(_programs) > MAX_PROGRAMS:
                        _programs.popitem(last=False)
    return compiled, args


def _cached(key: _Key) -> Compiled | None:
    with _cache_lock:
        compiled = _programs.get(key)
        if compiled is not None:
            stats["program_hits"] += 1
            _programs.move_to_end(key)
        return compiled


def _is_tiny(order: Sequence[Node]) -> bool:
    """Whether a first sighting of this graph may run in the interpreter (see
    ``TINY_ELEMENTS``): every value is small and every computed node is exact."""
    return all(n.type.size <= TINY_ELEMENTS and (is_frontier(n) or computes_exactly(n))
               for n in order)


def execute(roots: list[Node], memo: set[int], order: list[Node] | None = None,
            replacing: dict[int, Node] | None = None) -> dict[int, object]:
    """Compute ``roots`` (and memoised live nodes inside their graph); ``{uid: value}``.
    ``order`` is ``topo_order(roots)`` when the caller has walked the graph already.
    ``replacing`` maps a root's uid to the node its holder gives up for it (an optimizer
    step's old parameter values): the Program writes the root over that node's buffer
    where nothing else can read it (graphc/runtime/donation.py), and the node then
    holds no value, so a mistaken read fails instead of seeing the new one."""
    if order is None:
        order = topo_order(roots)
    root_ids = {r.uid for r in roots}
    outputs = list(roots) + [n for n in order if n.uid in memo and n.uid not in root_ids
                             and not is_frontier(n)]
    # Memoised extras lie inside `order`, so it is also the topological order of outputs.
    key_tuple, args = structural_key(outputs, order)
    key = _Key(key_tuple)
    keyed = (key, args)
    if key not in _programs:
        seen = _sightings.get(key, 0)
        if seen < 1 and _is_tiny(order):
            with _cache_lock:
                _sightings[key] = seen + 1
                if len(_sightings) > 4 * MAX_PROGRAMS:
                    _sightings.clear()
            stats["interpreted"] += 1
            return interp.run(roots, memo)
    compiled, args = lookup_or_compile(
        outputs, keyed, (lambda args: replaced_pairs(args, outputs, replacing)) if replacing
        else None)
    values = [_runtime_value(a) for a in args]
    try:
        if replacing and compiled.program.in_place:
            donate = donations(compiled.program, args, values, outputs, order, replacing)
            results = compiled.program.run(values, donate)
            for k, _ in donate:
                forget(args[k])
        else:
            results = compiled.program.run(values)
    except StepError as err:  # name the line that built the failing node in this graph
        if err.key_index is None or err.key_index >= len(order):
            raise
        raise err.at(order[err.key_index].meta.location) from None
    return {o.uid: v for o, v in zip(outputs, results)}


def clear_programs() -> None:
    """Forget every compiled Program (kernels stay in the kernel cache)."""
    with _cache_lock:
        _programs.clear()
        _sightings.clear()
