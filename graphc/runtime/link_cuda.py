"""The GPU linker: a fused, scheduled, memory-planned graph → a Program that runs on one
GPU (the CPU's linker is graphc/runtime/link.py; this one changes only what differs).

- **Kernels.** Each loop kernel is lowered to the same kernel IR as on the CPU, then
  scheduled and printed for CUDA (graphc/codegen/cuda.py) and loaded once, at link time;
  a step launches it with the grid its schedule fixed, on the call's stream. A flat
  kernel (dimensions collapsed) also gets its strided twin, used by a call whose
  argument arrays are not all C-contiguous.
- **Memory.** A call's *arena* (:class:`DeviceArena`) holds its planned intermediate
  buffers, allocated at the arena's first use and reused by every later call that takes
  it, and its stream: an arena's buffers are only ever written on that stream, so a
  buffer is reused in stream order without a host synchronisation. Outputs are fresh
  device arrays (numba's allocator, or CuPy's pool: graphc/backends/cuda_memory.py).
  Constants are uploaded once per Program, at link time.
- **Streams.** Each concurrent call gets its own arena and so its own stream. A call
  first makes its stream wait (``cudaStreamWaitEvent``, not a host synchronisation) for
  the last call recorded on any other stream, so it never reads a value before the call
  writing it has run; reads (``numpy()``, ``item()``) copy on the legacy default stream,
  which waits for all of them.
- **Arguments.** A host array passed to a GPU Program (an optimizer's scalar, an index a
  front-end op built) is uploaded on the call's stream: the one per-call upload.
- **Errors.** Kernels cannot raise: a step that checks data (``check_index``) writes an
  error word in the arena; the runtime reads the words where results are read
  (graphc/runtime/cuda_errors.py) and raises naming the op and the user's line.
"""

from __future__ import annotations

import threading

import numpy as np

from ..backends.base import DeviceCall, NoImplementation
from ..backends.cuda_device import simulated
from ..backends.cuda_memory import (
    c_contiguous,
    empty,
    is_device_array,
    upload,
    upload_scalar,
    view_base,
    view_maker,
)
from ..codegen.cuda import in_place_variant, may_overwrite, render_cuda_kernel, strided_variant
from ..codegen.cuda_ptx import kernel_arguments, load_cuda_kernel
from ..codegen.cuda_schedule import Launch
from ..ir import Kernel, Node
from . import cuda_errors
from .link import ProgramBuilder
from .program import ARENA, DONATED, Program, Step, StepError

# Programs under the simulator launch 2 blocks of 16 threads: it runs every thread as a
# Python thread, and grid-stride loops still cover every point (the codegen tests run
# the simulator's usual 2 x 64).
SIMULATED_PROGRAM_LAUNCH = Launch(blocks=2, threads=16)

_last_event: list = [None, None]  # (event, stream) of the last call recorded
_event_lock = threading.Lock()
# MegEngine's stream suffix: ``gpu0:1`` as the default device runs every GPU call on the
# named stream 1 (:func:`select_stream`); None, or ``:0``, gives each arena its own.
_selected: list = [None]
_named_streams: dict[int, object] = {}


def select_stream(index: int | None) -> None:
    """Run GPU Program calls on the named stream ``index`` (MegEngine's ``gpu0:1``);
    0 or None: each concurrent call on a stream of its own (the default)."""
    _selected[0] = index or None


def named_stream(index: int):
    """The CUDA stream MegEngine's suffix ``:index`` names (made at first use)."""
    found = _named_streams.get(index)
    if found is None:
        from numba import cuda

        with _event_lock:
            found = _named_streams.setdefault(index, cuda.stream())
    return found


class DeviceArena(list):
    """One call's planned buffers (a list, indexed as the CPU's arenas are), its stream,
    and its steps' error words (one int64 per checking step, zero until a kernel records
    an error)."""

    def __init__(self, n_planned: int, n_checks: int) -> None:
        super().__init__([None] * n_planned)
        from numba import cuda

        self.stream = cuda.stream()
        self.errors = None
        if n_checks:
            self.errors = upload(np.zeros(n_checks, np.int64), self.stream)
        self.own_stream = self.stream
        self.calls: dict[int, DeviceCall] = {}
        self.plain = DeviceCall(self.stream, None)  # for steps that check nothing
        self.event = cuda.event() if simulated() else cuda.event(timing=False)

    def use(self, stream) -> None:
        """Run the next calls on ``stream`` (after the work on this arena's buffers)."""
        self.event.wait(stream)
        self.stream = stream
        self.calls.clear()
        self.plain = DeviceCall(stream, None)

    def call(self, check: int) -> DeviceCall:
        """The :class:`DeviceCall` of checking step number ``check``."""
        found = self.calls.get(check)
        if found is None:
            found = self.calls[check] = DeviceCall(self.stream,
                                                   self.errors[check:check + 1])
        return found


class DeviceRuntime:
    """The GPU side of a Program's calls (see :class:`~graphc.runtime.program.Program`)."""

    def __init__(self, n_planned: int, checks: list[tuple[str, str, int | None, object]]
                 ) -> None:
        self.n_planned = n_planned
        # Per checking step: (op, location, key index, reporter(word, kept) -> message).
        self.checks = checks

    def new_arena(self) -> DeviceArena:
        return DeviceArena(self.n_planned, len(self.checks))

    def begin(self, arena: DeviceArena, args) -> list:
        selected = _selected[0]
        want = arena.own_stream if selected is None else named_stream(selected)
        if want is not arena.stream:
            arena.use(want)
        event, stream = _last_event
        if event is not None and stream is not arena.stream:
            event.wait(arena.stream)
        stream = arena.stream
        return [upload(value, stream) if type(value) is np.ndarray else value
                for value in args]

    def end(self, arena: DeviceArena) -> None:
        arena.event.record(arena.stream)
        with _event_lock:
            _last_event[0], _last_event[1] = arena.event, arena.stream
        if self.checks:
            cuda_errors.ran(self, arena)


class CudaProgramBuilder(ProgramBuilder):
    """Links a fused graph into a Program whose steps run on the GPU (module doc)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.records = None  # steps made from device objects: not saved (snapshot.py)
        self.launch = SIMULATED_PROGRAM_LAUNCH if simulated() else None
        self.checks: list[tuple] = []
        # Slots of runtime scalars, which hold host numbers (every other array slot holds
        # a device array): decided here, not per call.
        self.host_scalar_slots = {self.slot_of[uid] for uid in self.runtime_scalars}

    def allocator(self, node: Node):
        shape, dtype = node.type.shape, node.type.dtype
        if node.uid in self.plan.buffer_of:
            b = self.plan.buffer_of[node.uid]

            def reused(vals, b=b):
                arena = vals[ARENA]
                buf = arena[b]
                if buf is None:
                    buf = arena[b] = empty(shape, dtype, arena.stream)
                return buf

            return reused
        return lambda vals: empty(shape, dtype, vals[ARENA].stream)

    def view_step(self, node: Node, src: int, dst: int, view) -> None:
        make = view_maker(view)  # a device view of its base
        if src not in self.host_scalar_slots:
            def run(v: list, s=src, d=dst, f=make) -> None:
                v[d] = f(v[s])
        else:
            dtype = self.slot_type[src].dtype

            def run(v: list, s=src, d=dst, f=make) -> None:
                # A runtime scalar (a number each call passes, on the host) that a view
                # broadcasts: a 0-d device array first, as a kernel reads arrays there.
                v[d] = f(upload_scalar(v[s], dtype, v[ARENA].stream))

        self.steps.append(Step(f"view {node.op}", run, (src,), (dst,)))

    def const_step(self, dst: int, value: np.ndarray) -> None:
        device_value = upload(value)  # on the device once, for every call
        self.steps.append(Step("const", lambda v, d=dst, c=device_value:
                               v.__setitem__(d, c), (), (dst,)))

    def loop_kernel(self, kernel: Kernel) -> None:
        ks = render_cuda_kernel(self.fused, kernel, self.runtime_scalars, self.launch)
        self.sources.append(ks)
        kinds, outs, check = [], [], []
        for p in ks.params:
            if p.kind == "out":
                s = self.slot(p.node)
                kinds.append(("out", s))
                outs.append((s, self.allocator(p.node)))
            elif p.kind == "scalar":
                kinds.append(("scalar", self.scalar_slot(p.node)))
            else:
                s = self.array_slot(p.node)
                kinds.append(("in", s))
                if s in self.arg_slots or s in self.view_base:
                    check.append(s)  # arguments and views may be strided: checked per call
        params = [s for _, s in kinds]
        plain = _Launcher(ks)
        strided = _Launcher(strided_variant(ks)) if ks.schedule.flat else plain
        variant = self._loop_in_place(ks, kinds)[0]

        def run(vals: list, params=params, outs=outs, check=check) -> None:
            contiguous = True
            for s in check:
                if not c_contiguous(vals[s]):
                    contiguous = False
                    break
            on = vals[DONATED]
            if on and contiguous and variant is not None and variant.donated(on):
                variant.run(vals, outs)
                return
            for slot, alloc in outs:
                vals[slot] = alloc(vals)
            launcher = plain if contiguous else strided
            launcher(vals[ARENA].stream, [vals[s] for s in params], contiguous)

        self.steps.append(Step(kernel.name, run, tuple(params), tuple(s for s, _ in outs)))

    def legal_in_place(self, ks, candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(i, o) for i, o in candidates if may_overwrite(ks, i, o)]

    def in_place_variant(self, ks, unique: list[tuple[int, int]],
                         params: list[tuple[str, int]], pairs: list[tuple[int, int, int]]):
        return _DeviceInPlace(in_place_variant(ks, unique), params, pairs)

    def library_kernel(self, kernel: Kernel) -> None:
        (node,) = kernel.members
        self.sources.append(kernel)
        in_slots = [self.array_slot(i) for i in node.inputs]
        out = self.slot(node)
        try:
            library = self.backend.library_kernel(node.op)
        except NoImplementation as err:  # name the line that asked for it
            raise NoImplementation(f"{err} ({node.meta.location})") from None
        if not library.on_device or library.into is None:
            raise AssertionError(f"{node.op}: a GPU library kernel takes the device call")
        alloc, lib, attrs = self.allocator(node), library.into, node.attrs
        key_index = self.key_index.get(id(node.meta))
        check = None
        if library.checks:
            check = len(self.checks)
            self.checks.append((node.op, node.meta.location, key_index, attrs))

        # 0-d inputs: uploads make them 1-d (as np.ascontiguousarray), and a runtime
        # scalar is a host number; a library kernel gets them 0-d, on the device.
        scalars = [(k, i.type.dtype) for k, i in enumerate(node.inputs) if i.type.shape == ()]

        def run(vals: list, alloc=alloc, lib=lib, attrs=attrs, check=check) -> None:
            result = alloc(vals)
            arena = vals[ARENA]
            call = arena.call(check) if check is not None else arena.plain
            xs = [vals[s] for s in in_slots]
            for k, dtype in scalars:
                if not is_device_array(xs[k]):
                    xs[k] = upload_scalar(xs[k], dtype, arena.stream)
                elif xs[k].shape != ():
                    xs[k] = xs[k].reshape(())
            lib(xs, attrs, result, call)
            vals[out] = result

        self.steps.append(Step(kernel.name, run, tuple(in_slots), (out,)))

    def build(self) -> Program:
        program = super().build()
        program.device = DeviceRuntime(len(self.plan.buffers), self.checks)
        program.first_run = None  # kernels compile at their first launch (no CPU helper)
        return program


class _Launcher:
    """A rendered kernel, loaded once, launched with its fixed grid on a stream. Keeps
    the source's calling convention, not its IR (whose parameters hold graph nodes).

    On a GPU the first launch whose arrays are all C-contiguous goes through numba's
    dispatcher (which compiles, or loads from the cache, for those types); later such
    launches call that compiled kernel directly (*pre-bound*: no typing of arguments, no
    lookup per call). A launch with a strided array goes through the dispatcher, which
    picks (or compiles) the kernel for its layout.
    """

    __slots__ = ("ks", "dispatcher", "grid", "_configured", "bound", "dims")

    def __init__(self, ks) -> None:
        self.ks = _Convention(ks.layouts, ks.sizes)
        self.dispatcher = load_cuda_kernel(ks.source)
        self.grid = ks.grid()
        self._configured: dict[int, object] = {}
        self.bound = None  # the compiled kernel for C-contiguous arrays, once known
        self.dims = None

    def __call__(self, stream, values: list, contiguous: bool = True) -> None:
        args = kernel_arguments(self.ks, values)
        if contiguous and self.bound is not None:
            self.bound.launch(args, self.dims[0], self.dims[1], stream, 0)
            return
        configured = self._configured.get(id(stream))
        if configured is None:
            blocks, threads = self.grid
            configured = self._configured[id(stream)] = \
                self.dispatcher[blocks, threads, stream]
        configured(*args)
        if contiguous and self.bound is None and not simulated():
            self._bind(args)

    def _bind(self, args: tuple) -> None:
        try:
            from numba.cuda.errors import normalize_kernel_dimensions

            types = tuple(self.dispatcher.typeof_pyval(a) for a in args)
            self.bound = self.dispatcher.overloads[types]
            self.dims = normalize_kernel_dimensions(*self.grid)
        except Exception:  # another numba-cuda: keep launching through the dispatcher
            self.bound = None


class _DeviceInPlace:
    """A loop kernel's in-place variant on the GPU (its outputs merged into the inputs
    they overwrite), run when a call donates one of those inputs. ``params``: (kind,
    slot) in the variant's order, a merged input read from its output's slot; ``pairs``:
    (argument slot, output slot, switch)."""

    def __init__(self, ks, params: list[tuple[str, int]],
                 pairs: list[tuple[int, int, int]]) -> None:
        self.ks = ks
        self.params = [s for _, s in params]
        self.pairs = pairs
        self._launcher: _Launcher | None = None  # loaded at its first use

    def donated(self, on: frozenset) -> bool:
        for _, _, switch in self.pairs:
            if switch in on:
                return True
        return False

    def run(self, vals: list, outs: list) -> None:
        arena, on = vals[ARENA], vals[DONATED]
        merged = set()
        for arg_slot, out_slot, switch in self.pairs:
            a = vals[arg_slot]
            if switch not in on or view_base(a) is not None:  # update a copy instead
                copy = empty(a.shape, a.dtype, arena.stream)
                copy.copy_to_device(a, stream=arena.stream)
                a = copy
            vals[out_slot] = a
            merged.add(out_slot)
        for slot, alloc in outs:
            if slot not in merged:
                vals[slot] = alloc(vals)
        if self._launcher is None:
            self._launcher = _Launcher(self.ks)
            self.ks = None  # (its IR holds graph nodes)
        self._launcher(arena.stream, [vals[s] for s in self.params])


class _Convention:
    """What ``kernel_arguments`` reads of a kernel source: its layouts and sizes."""

    __slots__ = ("layouts", "sizes")

    def __init__(self, layouts: list[str], sizes: list[int]) -> None:
        self.layouts, self.sizes = list(layouts), list(sizes)


__all__ = ["CudaProgramBuilder", "DeviceArena", "DeviceRuntime", "StepError"]
