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

from ..backends.base import DeviceCall
from ..backends.cuda_device import simulated
from ..backends.cuda_memory import c_contiguous, empty, is_device_array, upload, view_maker
from ..codegen.cuda import render_cuda_kernel, strided_variant
from ..codegen.cuda_ptx import kernel_arguments, load_cuda_kernel
from ..codegen.cuda_schedule import Launch
from ..ir import Kernel, Node, is_frontier
from ..ir.node import SCALAR_OPS
from . import cuda_errors
from .link import ProgramBuilder, _view_fn
from .program import ARENA, Program, Step, StepError

# Programs under the simulator launch 2 blocks of 16 threads: it runs every thread as a
# Python thread, and grid-stride loops still cover every point (the codegen tests run
# the simulator's usual 2 x 64).
SIMULATED_PROGRAM_LAUNCH = Launch(blocks=2, threads=16)

_last_event: list = [None, None]  # (event, stream) of the last call recorded
_event_lock = threading.Lock()


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
        self.calls: dict[int, DeviceCall] = {}
        self.plain = DeviceCall(self.stream, None)  # for steps that check nothing
        self.event = cuda.event() if simulated() else cuda.event(timing=False)

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
        self.launch = SIMULATED_PROGRAM_LAUNCH if simulated() else None
        self.checks: list[tuple] = []

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

    def array_slot(self, node: Node) -> int:
        if node.uid in self.slot_of:
            return self.slot_of[node.uid]
        if node.uid in self.fused.free:  # a device view of its base
            chain = []
            cur = node
            while cur.uid in self.fused.free:
                chain.append(cur)
                cur = cur.inputs[0]
            src = self.array_slot(cur)
            dst = self.slot(node)
            self.view_base[dst] = self.view_base.get(src, src)
            make = view_maker(_view_fn(list(reversed(chain))))
            self.steps.append(Step(f"view {node.op}", lambda v, s=src, d=dst, f=make:
                                   v.__setitem__(d, f(v[s])), (src,), (dst,)))
            return dst
        if is_frontier(node):  # a constant: on the device once, for every call
            dst = self.slot(node)
            value = np.asarray(node.value if node.op in SCALAR_OPS else node.buffer,
                               dtype=node.type.dtype)
            if not is_device_array(value):
                value = upload(value)
            self.steps.append(Step("const", lambda v, d=dst, c=value: v.__setitem__(d, c),
                                   (), (dst,)))
            return dst
        raise AssertionError(f"no value for %{node.uid} {node.op}")

    def loop_kernel(self, kernel: Kernel) -> None:
        ks = render_cuda_kernel(self.fused, kernel, self.runtime_scalars, self.launch)
        self.sources.append(ks)
        params, outs, arg_params = [], [], []
        for n, p in enumerate(ks.params):
            if p.kind == "out":
                s = self.slot(p.node)
                params.append(s)
                outs.append((s, self.allocator(p.node)))
            elif p.kind == "scalar":
                params.append(self.slot(p.node))
            else:
                s = self.array_slot(p.node)
                params.append(s)
                if s in self.arg_slots or s in self.view_base:
                    arg_params.append(n)  # may be strided: checked at the call
        plain = _Launcher(ks)
        strided = _Launcher(strided_variant(ks)) if ks.schedule.flat else plain
        check = [params[n] for n in arg_params] if ks.schedule.flat else []

        def run(vals: list, params=params, outs=outs, check=check) -> None:
            for slot, alloc in outs:
                vals[slot] = alloc(vals)
            launcher = plain
            for s in check:
                if not c_contiguous(vals[s]):
                    launcher = strided
                    break
            launcher(vals[ARENA].stream, [vals[s] for s in params])

        self.steps.append(Step(kernel.name, run, tuple(params), tuple(s for s, _ in outs)))

    def library_kernel(self, kernel: Kernel) -> None:
        (node,) = kernel.members
        self.sources.append(kernel)
        in_slots = [self.array_slot(i) for i in node.inputs]
        out = self.slot(node)
        library = self.backend.library_kernel(node.op)
        if not library.on_device or library.into is None:
            raise AssertionError(f"{node.op}: a GPU library kernel takes the device call")
        alloc, lib, attrs = self.allocator(node), library.into, node.attrs
        key_index = self.key_index.get(id(node.meta))
        check = None
        if node.op == "check_index":
            check = len(self.checks)
            self.checks.append((node.op, node.meta.location, key_index, attrs))

        def run(vals: list, alloc=alloc, lib=lib, attrs=attrs, check=check) -> None:
            result = alloc(vals)
            arena = vals[ARENA]
            call = arena.call(check) if check is not None else arena.plain
            lib([vals[s] for s in in_slots], attrs, result, call)
            vals[out] = result

        self.steps.append(Step(kernel.name, run, tuple(in_slots), (out,)))

    def build(self) -> Program:
        program = super().build()
        program.device = DeviceRuntime(len(self.plan.buffers), self.checks)
        program.first_run = None  # kernels compile at their first launch (no CPU helper)
        return program


class _Launcher:
    """A rendered kernel, loaded once, launched with its fixed grid on a stream. Keeps
    the source's calling convention, not its IR (whose parameters hold graph nodes)."""

    __slots__ = ("ks", "dispatcher", "grid", "_configured")

    def __init__(self, ks) -> None:
        self.ks = _Convention(ks.layouts, ks.sizes)
        self.dispatcher = load_cuda_kernel(ks.source)
        self.grid = ks.grid()
        self._configured: dict[int, object] = {}

    def __call__(self, stream, values: list) -> None:
        configured = self._configured.get(id(stream))
        if configured is None:
            blocks, threads = self.grid
            configured = self._configured[id(stream)] = \
                self.dispatcher[blocks, threads, stream]
        configured(*kernel_arguments(self.ks, values))


class _Convention:
    """What ``kernel_arguments`` reads of a kernel source: its layouts and sizes."""

    __slots__ = ("layouts", "sizes")

    def __init__(self, layouts: list[str], sizes: list[int]) -> None:
        self.layouts, self.sizes = list(layouts), list(sizes)


__all__ = ["CudaProgramBuilder", "DeviceArena", "DeviceRuntime", "StepError"]
