"""Compile a pending graph into a Program, cache it, and run it.

The Program itself is assembled by the linker (graphc/runtime/link.py).

``execute`` is what realization calls: it looks the pending subgraph up by structural
key (same model, next batch → same key), compiles on a miss (passes → fuse → schedule →
plan_memory → codegen), and runs the Program on the current buffers and scalars.
``prepare`` is the one place that chooses how a graph runs (a compiled Program, or the
reference interpreter under ``GRAPHC_BACKEND=interp``): lazy realization and compiled
functions (graphc.jit) both call it, and both run what it returns the same way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .. import interp
from ..backends import Backend, backend_for
from ..backends.cuda_memory import download, upload
from ..codegen.cpu import KernelSource
from ..ir import FusedGraph, Graph, Kernel, Node, is_frontier, structural_key, topo_order
from ..ir.node import SCALAR_OPS
from ..ir.values import _values, forget, record
from ..ops import computes_exactly
from ..passes import run_pipeline
from ..passes.memory import MemoryPlan, plan_memory
from . import snapshot
from .donation import donations, hand_out, replaced_pairs
from .kernel_calls import CallPlan
from .link import ProgramBuilder
from .program import Program, StepError
from .progress import CompileProgress

# Programs kept in memory, least recently used evicted first (with their buffers).
MAX_PROGRAMS = 256
# A graph whose values are all this small, made only of ops a kernel computes with their
# reference's bits (graphc/ops/exact.py), runs in the interpreter at its first sighting,
# and at later ones while the nodes interpreted under its structure stay within
# INTERPRET_BUDGET: compiling it (0.3 s and more) would cost more than interpreting it
# (10-30 us a node) unless it recurs often, and its compiled realizations give the same
# bits. docs/getting-started.md's loop, `s = s * 0.5 + 1`, realizes chains of 3,000
# scalar nodes a few times: interpreted, not compiled twice. Any other graph compiles
# at once.
TINY_ELEMENTS = 4096
INTERPRET_BUDGET = 16384

_programs: OrderedDict = OrderedDict()
_sightings: dict = {}
# The Program cache is shared by every thread: its reads and writes hold _cache_lock (an
# OrderedDict's move_to_end and popitem are not atomic); compiling holds _compile_lock.
_cache_lock = threading.Lock()
_compile_lock = threading.RLock()
stats = {"programs_compiled": 0, "program_hits": 0, "interpreted": 0, "compile_seconds": 0.0,
         "programs_loaded": 0, "load_seconds": 0.0}


@dataclass
class Compiled:
    """A Program with what produced it (for ``explain``)."""

    program: Program
    fused: FusedGraph | None
    kernels: list[KernelSource | Kernel]
    plan: MemoryPlan
    compile_seconds: float
    calls: CallPlan | None = None  # the kernel calls' arguments, predictable before a run
    # The key the Program cache holds it under: a hit moves that very object to the end
    # of the LRU order (found by identity, where an equal key costs a deep comparison).
    cache_key: object = None
    # What the linker made each step from (graphc.runtime.snapshot saves them); None
    # once saved, or for a Program loaded from a snapshot.
    records: list | None = None

    def without_graph(self) -> Compiled:
        """This Compiled without the graph it was built from, which is what the Program
        cache keeps: the fused graph and the kernel descriptions reach the first call's
        nodes, and through them its buffers (a model's initial weights, the first batch)
        and the values its caller is about to replace (which could then never be
        updated in place). Counts stay in ``program.stats``."""
        return replace(self, fused=None, kernels=[], records=None)


def _runtime_value(node: Node):
    if node.op in SCALAR_OPS:
        return node.type.dtype.type(node.value)
    value = node.data if not node.inputs else _values.get(node.uid)
    if value is None:
        raise RuntimeError(f"{node.op} node %{node.uid} has no value (built at "
                           f"{node.meta.location})")
    return value


def target_backend(outputs: Sequence[Node]) -> Backend:
    """The backend that runs the graph of ``outputs`` (chosen by their device)."""
    return _backend(outputs[0].type.device)


def _backend(device: str) -> Backend:
    backend = _backend_of.get(device)
    if backend is None:
        backend = _backend_of[device] = backend_for(device)
        if backend.device != "cpu":
            _gpu_seen[0] = True
    return backend


def device_of(device: str) -> str:
    """Where values on ``device`` (a canonical name) live: ``"cpu"`` or ``"gpu"``."""
    return _backend(device).device


_backend_of: dict[str, Backend] = {}  # device name → its backend, picked once
# Whether any graph has had a GPU backend: only then may a graph span two devices.
_gpu_seen = [False]


def compile_outputs(outputs: list[Node], args: list[Node] | None = None,
                    updates: set[tuple[int, int]] | None = None,
                    target: Backend | None = None,
                    progress: CompileProgress | None = None) -> Compiled:
    """Run the whole pipeline on the pending graph of ``outputs`` (no cache). ``updates``:
    the (argument index, output index) pairs to prefer for in-place kernels; ``target``:
    the backend (by default the one of the outputs' device); ``progress``: the compile's
    progress display (graphc.runtime.progress), told the stages and the kernels, and
    handed to the Program, whose first run (where numba compiles them) closes it."""
    t0 = time.perf_counter()
    target = target or target_backend(outputs)
    if args is None:
        _, args = structural_key(outputs)
    key_index = {}
    for k, n in enumerate(topo_order(outputs)):  # the key's order (see execute)
        key_index.setdefault(id(n.meta), k)
    passes: dict[str, float] = {}
    t1 = time.perf_counter()
    graph = run_pipeline(Graph(tuple(outputs)), capabilities=target.capabilities,
                         seconds=passes)
    from ..passes.fusion import fuse
    from ..passes.schedule import schedule

    t2 = time.perf_counter()
    fused = fuse(graph)
    t3 = time.perf_counter()
    fused = schedule(fused)
    t4 = time.perf_counter()
    if progress is not None:
        progress.set_stage(f"generating {len(fused.kernels)} kernels")
    plan = plan_memory(fused, list(graph.outputs))
    t5 = time.perf_counter()
    if target.device == "gpu":
        from .link_cuda import CudaProgramBuilder as Builder
    else:
        Builder = ProgramBuilder
    builder = Builder(fused, args, list(graph.outputs), plan, updates or set(), key_index,
                      backend=target)
    program = builder.build()
    t6 = time.perf_counter()
    seconds = t6 - t0
    # Where the compile went (light: a few clock reads per compile and two per kernel):
    # the pre-fusion passes each, fusion, scheduling, the memory plan, and the linker,
    # of which rendering kernel sources and loading their modules (numba compiles later,
    # at the first run: see graphc.bench.first_step for that part).
    stages = {"prepare": t1 - t0, "passes": t2 - t1, "fuse": t3 - t2, "schedule": t4 - t3,
              "memory": t5 - t4, "link": t6 - t5, **builder.seconds}
    program.stats.update(compile_seconds=seconds, kernels=len(fused.kernels),
                         planned_bytes=plan.planned_bytes, stage_seconds=stages,
                         pass_seconds=passes)
    if progress is not None:
        _hand_over(progress, program)
    return Compiled(program, fused, builder.sources, plan, seconds, builder.calls,
                    records=builder.records)


class _Key:
    """A structural key and the target backend's ``cache_tag`` (its name and fingerprint,
    so another backend, or changed capabilities, never reuses a Program), with the hash
    computed once: a step's key is a tuple of some hundred entries, and one realization
    looks it up several times (seen, cached, LRU). Indexing reads the key tuple
    (``key[0]`` is its entries)."""

    __slots__ = ("key", "backend", "_hash")

    def __init__(self, key: tuple, backend: tuple[str, str]) -> None:
        self.key = key
        self.backend = backend
        self._hash = hash((backend, hash(key)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Key):
            return (self._hash == other._hash and self.backend == other.backend
                    and self.key == other.key)
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
                      updates: Callable[[list[Node]], set[tuple[int, int]]] | None = None,
                      target: Backend | None = None) -> tuple[Compiled, list[Node]]:
    """The cached Compiled for ``outputs``' structure (compiling on a miss) and its args.

    ``keyed`` is ``structural_key(outputs)`` when the caller has it already. ``updates``
    gives, from the args, the (argument index, output index) pairs the caller means to
    donate (a state and its new value); on a miss the compiler pairs those first when it
    builds in-place kernels. ``target``: the backend (by default the outputs' device's)."""
    target = target or target_backend(outputs)
    key, args = keyed or structural_key(outputs)
    if not isinstance(key, _Key):
        key = _Key(key, target.cache_tag)
    compiled = _cached(key)
    if compiled is None:
        with _compile_lock:  # one compile at a time: a second thread then finds it cached
            compiled = _cached(key)
            if compiled is None:
                progress = CompileProgress.from_environment()
                wanted = updates(args) if updates else None
                saved_as = _snapshot_key(key, wanted, target)
                try:
                    loaded = _load_snapshot(saved_as, target, progress)
                    compiled = loaded or compile_outputs(outputs, args, wanted, target,
                                                         progress)
                except BaseException:
                    progress.finish(failed=True)
                    raise
                if loaded is None:  # compiled here (a GPU Program has no records to save)
                    stats["programs_compiled"] += 1
                    stats["compile_seconds"] += compiled.compile_seconds
                    if saved_as is not None and compiled.records is not None:
                        snapshot.save(saved_as, compiled.records, compiled.program,
                                      compiled.plan)
                    if os.environ.get("GRAPHC_LOG_COMPILES"):
                        _log_miss(key, len(compiled.fused.kernels))
                compiled = replace(compiled.without_graph(), cache_key=key)
                with _cache_lock:
                    _programs[key] = compiled
                    while len(_programs) > MAX_PROGRAMS:
                        _programs.popitem(last=False)
    return compiled, args


def _snapshot_key(key: _Key, updates: set | None, target: Backend) -> str | None:
    """The key of this Program's snapshot in the kernel cache, where one may be kept."""
    if target.device != "cpu" or not snapshot.enabled():
        return None
    return snapshot.program_key(key.key, key.backend, updates)


def _load_snapshot(saved_as: str | None, target: Backend,
                   progress: CompileProgress) -> Compiled | None:
    """The Program saved under ``saved_as`` by an earlier process (None if none)."""
    if saved_as is None:
        return None
    t0 = time.perf_counter()
    loaded = snapshot.load(saved_as, target)
    if loaded is None:
        return None
    program, plan = loaded
    seconds = time.perf_counter() - t0
    stats["programs_loaded"] += 1
    stats["load_seconds"] += seconds
    program.stats.update(loaded_seconds=seconds, compile_seconds=0.0)
    _hand_over(progress, program)
    return Compiled(program, None, [], plan, 0.0)


def _hand_over(progress: CompileProgress, program: Program) -> None:
    """Give a new Program the compile's progress display: told its kernel steps and held
    until the Program's first run (where numba compiles or loads them) closes it."""
    progress.expect(program.kernel_steps)
    progress.hold()
    program.progress = progress


BACKENDS = ("compiled", "interp")


def backend() -> str:
    """The execution backend: ``GRAPHC_BACKEND``, ``compiled`` (default) or ``interp``
    (the NumPy reference interpreter)."""
    name = os.environ.get("GRAPHC_BACKEND", "compiled")
    if name not in BACKENDS:
        raise ValueError(f"unknown GRAPHC_BACKEND {name!r}; valid: {', '.join(BACKENDS)}")
    return name


class Interpreted:
    """A graph the reference interpreter runs, called as a Program is: ``run(values)``
    maps the values of its structural key's arguments to its outputs' values. What
    :func:`prepare` returns under ``GRAPHC_BACKEND=interp`` (``program`` is itself, and
    nothing runs in place), and what a tiny graph's first sighting runs."""

    in_place: dict = {}
    compile_seconds = 0.0
    plan = None

    def __init__(self, outputs: list[Node], args: list[Node]) -> None:
        self.outputs = outputs
        self.args = args
        self.program = self
        self.stats = {"kernels": 0}
        # Outputs that live on a GPU (the interpreter computes on the host).
        self.on_gpu = [j for j, o in enumerate(outputs) if _gpu_seen[0]
                       and device_of(o.type.device) == "gpu"]

    def run(self, values: Sequence, donate: Sequence[tuple[int, int]] = ()) -> list:
        if _gpu_seen[0]:
            values = [download(v) for v in values]
        given = {a.uid: v for a, v in zip(self.args, values)}
        results = interp.run(self.outputs, given=given)
        outs = [results[o.uid] for o in self.outputs]
        for j in self.on_gpu:
            outs[j] = upload(outs[j])
        given = {id(v) for v in values}  # (a reference may return its input itself)
        hand_out(outs, [j for j, out in enumerate(outs) if id(out) in given])
        return outs


def prepare(outputs: list[Node], keyed: tuple | None = None,
            updates: Callable[[list[Node]], set[tuple[int, int]]] | None = None,
            target: Backend | None = None) -> tuple[Compiled | Interpreted, list[Node]]:
    """How ``outputs`` run, and the argument nodes a run takes values for: the cached
    (or newly compiled) Program for the ``target`` backend, or the reference interpreter
    under ``GRAPHC_BACKEND=interp``. Arguments as :func:`lookup_or_compile`'s; the
    result's ``program.run(values, donate)`` computes the outputs."""
    if backend() == "interp":
        _, args = keyed or structural_key(outputs)
        return Interpreted(outputs, args), args
    return lookup_or_compile(outputs, keyed, updates, target)


def _cached(key: _Key) -> Compiled | None:
    with _cache_lock:
        compiled = _programs.get(key)
        if compiled is not None:
            stats["program_hits"] += 1
            _programs.move_to_end(compiled.cache_key)
        return compiled


def _is_tiny(order: Sequence[Node]) -> bool:
    """Whether a first sighting of this graph may run in the interpreter (see
    ``TINY_ELEMENTS``): every value is small and every computed node is exact."""
    return all(n.type.size <= TINY_ELEMENTS and (is_frontier(n) or computes_exactly(n))
               for n in order)


def execute(roots: list[Node], memo: set[int], order: list[Node] | None = None,
            replacing: dict[int, Node] | None = None) -> dict[int, object]:
    """Compute ``roots`` (and memoised live nodes inside their graph); ``{uid: value}``.
    See :func:`execute_on_one_device`, which this is once every node lies on one kind
    of device. A graph spanning the CPU and a GPU runs as one Program per device: first
    the values that cross (the inputs of ``to_device`` steps between the two), recorded
    as realized, then each device's outputs."""
    if not _gpu_seen[0]:
        return execute_on_one_device(roots, memo, order, replacing)
    if order is None:
        order = topo_order(roots)
    crossing = [n.inputs[0] for n in order if n.op == "to_device"
                and not is_frontier(n.inputs[0])
                and device_of(n.inputs[0].type.device) != device_of(n.type.device)]
    results: dict[int, object] = {}
    if crossing:
        crossing = list({n.uid: n for n in crossing}.values())
        results.update(execute(crossing, memo))
        for n in crossing:
            record(n, results[n.uid])
        order = topo_order(roots)
    kinds: dict[str, list[Node]] = {}
    for r in roots:
        if not is_frontier(r):
            kinds.setdefault(device_of(r.type.device), []).append(r)
    if len(kinds) <= 1:
        if any(not is_frontier(r) for r in roots):
            results.update(execute_on_one_device(roots, memo, order, replacing))
        return results
    for group in kinds.values():
        results.update(execute_on_one_device(group, memo, None, replacing))
    return results


def execute_on_one_device(roots: list[Node], memo: set[int], order: list[Node] | None = None,
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
    target = target_backend(outputs)
    key = _Key(key_tuple, target.cache_tag)
    keyed = (key, args)
    # One lookup per step (a step's key compares in microseconds): a hit runs at once.
    runnable: Compiled | Interpreted | None = \
        _cached(key) if backend() == "compiled" else None
    if runnable is None and target.device == "cpu":
        seen = _sightings.get(key, 0)  # nodes interpreted under this structure so far
        if (seen == 0 or seen + len(order) <= INTERPRET_BUDGET) and _is_tiny(order):
            with _cache_lock:
                _sightings[key] = seen + len(order)
                if len(_sightings) > 4 * MAX_PROGRAMS:
                    _sightings.clear()
            stats["interpreted"] += 1
            runnable = Interpreted(outputs, args)
    if runnable is None:
        runnable, args = prepare(
            outputs, keyed, (lambda args: replaced_pairs(args, outputs, replacing))
            if replacing else None, target)
    program = runnable.program
    values = [_runtime_value(a) for a in args]
    try:
        if replacing and program.in_place:
            donate = donations(program, args, values, outputs, replacing)
            results = program.run(values, donate)
            for k, _ in donate:
                forget(args[k])
        else:
            results = program.run(values)
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
