"""A compiled Program: ordered steps over value slots, run by a plain Python loop.

Building a Program does all the graph work once (binding kernels to slots, sizes and
block counts); running it only calls prepared callables. A Program holds no per-call
state, so one Program may run on several threads at once: each call gets its value
slots and an *arena* (the planned intermediate buffers) of its own, checked out from the
Program's free list and returned when the call ends (one thread reuses one arena, two
concurrent calls get two). Slot ``ARENA`` of a call's values holds its arena, slot
``DONATED`` the in-place switches turned on for it. Outputs are fresh arrays, handed to
the caller read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..ir import OpError
from .donation import hand_out

# The first two value slots of every call: its arena of planned buffers, and the set
# of in-place switches (ints) this call turns on.
ARENA, DONATED = 0, 1
RESERVED_SLOTS = 2
_NONE_DONATED: frozenset = frozenset()
# Under numba's workqueue threading layer two threads must not run parallel kernels at
# once (it terminates the process): kernel and library steps then take this lock.
_LAUNCH_LOCK = threading.Lock()


def _serialised(run: Callable[[list], None]) -> Callable[[list], None]:
    """``run``, holding the launch lock when the threading layer needs it (decided when
    the step is built; graphc.runtime.threads sets the layer at import)."""
    from .threads import launches_serialised

    if not launches_serialised():
        return run

    def locked(vals: list) -> None:
        with _LAUNCH_LOCK:
            run(vals)

    return locked


@dataclass
class Step:
    """One call: ``run(vals)`` reads and writes slots of the value list."""

    name: str
    run: Callable[[list], None]
    reads: tuple[int, ...] = ()
    writes: tuple[int, ...] = ()


@dataclass
class Program:
    """Ordered steps over ``n_slots`` value slots.

    ``arg_slots[i]`` receives runtime argument ``i``; ``output_slots`` are returned.
    ``in_place`` maps ``(argument index, output index)`` to the switch (an int) of a step
    that can compute that output into that argument's buffer (built by the compiler).
    ``n_planned`` is the number of planned intermediate buffers in an arena.
    """

    steps: list[Step]
    n_slots: int
    arg_slots: list[int]
    output_slots: list[int]
    kernels: list = field(default_factory=list)  # each kernel's source, or a library op's name
    stats: dict = field(default_factory=dict)
    in_place: dict[tuple[int, int], int] = field(default_factory=dict)
    n_planned: int = 0
    # Outputs that are an argument's array itself (a graph simplified to its input): the
    # array then has two holders (graphc.runtime.donation).
    arg_outputs: tuple[int, ...] = ()
    # Called once with the first run's arguments, switches and compile progress (or
    # None), before it: the compiler sets it to compile the kernels on two processes
    # (graphc.codegen.precompile).
    first_run: Callable[[Sequence, frozenset, object], None] | None = None
    # The kernel steps: step index → ("loop" | "library", the model part it computes).
    kernel_steps: dict[int, tuple[str, str]] = field(default_factory=dict)
    # The compile's progress (graphc.runtime.progress), carried to the first run, where
    # numba compiles the kernels; that run reports each kernel step to it and closes it.
    progress: object = None
    # The GPU side of a call (graphc/runtime/link_cuda.py): ``new_arena()`` makes a
    # call's arena (its planned buffers, stream and error words), ``begin(arena, args)``
    # returns the arguments as the call's kernels take them, ``end(arena)`` closes the
    # call. None on the CPU.
    device: object = None
    # Arenas not in use (list.pop and list.append are atomic under the GIL).
    _arenas: list = field(default_factory=list, repr=False)
    _first_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, args: Sequence, donate: Sequence[tuple[int, int]] = ()) -> list:
        """The output values for ``args``. ``donate`` lists ``(argument index, output
        index)`` pairs whose argument's old value is dead once the call returns (the
        caller replaces it with that output and nothing else holds it): where a step can,
        it writes the output into the argument's buffer instead of a new one."""
        on = _NONE_DONATED
        if donate and self.in_place:
            on = frozenset([self.in_place[p] for p in donate if p in self.in_place])
        if self.first_run is not None or self.progress is not None:
            return self._first_call(args, on)
        return self._call(args, on)

    def _first_call(self, args: Sequence, on: frozenset) -> list:
        """The first run: compile ahead (``first_run``) and report each kernel step to
        the compile's progress, which it then closes (also when the run fails)."""
        with self._first_lock:
            first_run, self.first_run = self.first_run, None
            progress, self.progress = self.progress, None
        if progress is None:  # (another thread's call took them first)
            if first_run is not None:
                first_run(args, on, None)
            return self._call(args, on)
        progress.resume()
        try:
            if first_run is not None:  # the switches choose the kernels it predicts
                first_run(args, on, progress)
            outs = self._call(args, on, progress)
        except BaseException:
            progress.finish(failed=True)
            raise
        self.stats["compiled_kernels"] = progress.finish()
        self.stats["first_compile_seconds"] = progress.elapsed()
        return outs

    def _call(self, args: Sequence, on: frozenset, progress=None) -> list:
        arenas, device = self._arenas, self.device
        try:
            arena = arenas.pop()
        except IndexError:
            arena = [None] * self.n_planned if device is None else device.new_arena()
        vals: list = [None] * self.n_slots
        vals[ARENA] = arena
        vals[DONATED] = on
        if device is not None:
            args = device.begin(arena, args)
        for slot, value in zip(self.arg_slots, args):
            vals[slot] = value
        try:
            if progress is None:
                self.run_steps(vals)
            else:  # the first run: kernels compile at their first call
                progress.run_steps(self.steps, vals, gpu=device is not None)
        finally:
            if device is not None:
                device.end(arena)
            arenas.append(arena)  # outputs never live in planned buffers
        outs = [vals[s] for s in self.output_slots]
        hand_out(outs, self.arg_outputs)
        return outs

    def run_steps(self, vals: list) -> None:
        """Run every step over the value slots (benchmarks replace this to time steps)."""
        for step in self.steps:
            step.run(vals)


def overwritable(a: np.ndarray, donated: bool) -> bool:
    """Whether a step may write its result over argument ``a``: the caller donated it for
    this call and ``a`` owns aligned C-contiguous memory (not a view)."""
    return donated and a.base is None and a.flags.c_contiguous and a.flags.aligned


@dataclass
class InPlace:
    """A loop kernel's variant writing some outputs over its arguments' buffers
    (graphc.codegen.cpu_in_place), used when the caller donates one of them.

    ``params`` are (kind, slot) in the variant's signature order, a merged input read
    from its output's slot; ``pairs`` are (argument slot, output slot, switch), the
    switch an int that a call's ``DONATED`` set holds when it donates the argument.
    """

    source: str
    params: list[tuple[str, int]]
    pairs: list[tuple[int, int, int]]
    _dispatcher: object = None

    def donated(self, on: frozenset) -> bool:
        """Whether a call with switches ``on`` donates one of the variant's arguments."""
        for _, _, switch in self.pairs:
            if switch in on:
                return True
        return False

    def dispatcher(self):
        """The variant's numba dispatcher, loaded at its first use (most never are)."""
        if self._dispatcher is None:
            from ..codegen.cache import load_kernel  # imports numba

            self._dispatcher = load_kernel(self.source)
        return self._dispatcher

    def run(self, vals: list, outs: list[tuple[int, Callable]], sizes: np.ndarray) -> None:
        merged = set()
        on = vals[DONATED]
        for arg_slot, out_slot, switch in self.pairs:
            a = vals[arg_slot]
            if overwritable(a, switch in on):
                a.flags.writeable = True  # a Program output, made read-only when returned
            else:  # not donated, next to one that is: update a copy
                a = np.array(a, order="C")
            vals[out_slot] = a
            merged.add(out_slot)
        for slot, alloc in outs:
            if slot not in merged:
                vals[slot] = alloc(vals)
        self.dispatcher()(*[vals[s] for _, s in self.params], sizes)


def loop_step(name: str, dispatcher, params: list[tuple[str, int]],
              outs: list[tuple[int, Callable]], sizes: np.ndarray,
              plain: bool = False, in_place: InPlace | None = None) -> Step:
    """A generated kernel call. ``params`` are (kind, slot) in signature order and
    ``outs`` (slot, allocator: ``alloc(vals)``) for the arrays it writes. float16 arrays
    are converted at the kernel's edges (numba has no float16 arrays on the CPU). ``plain`` says no
    argument is float16 (known from the types when the Program is built): then the call
    passes the slots as they are, the per-step cost that matters for small steps and
    jitted functions. ``in_place`` (plain kernels only) is the variant run instead when
    a call donates one of its arguments."""
    reads = tuple(s for k, s in params if k != "out")
    writes = tuple(s for s, _ in outs)
    if plain:
        slots = [s for _, s in params]

        def run_plain(vals: list) -> None:
            if in_place is not None and vals[DONATED] and in_place.donated(vals[DONATED]):
                in_place.run(vals, outs, sizes)
                return
            for slot, alloc in outs:
                vals[slot] = alloc(vals)
            dispatcher(*[vals[s] for s in slots], sizes)

        return Step(name, _serialised(run_plain), reads, writes)

    def run(vals: list) -> None:
        for slot, alloc in outs:
            vals[slot] = alloc(vals)
        call = []
        post = []
        for kind, slot in params:
            v = vals[slot]
            if kind == "scalar" and v.dtype == np.float16:
                v = np.float32(v)
            elif kind != "scalar":
                if v.dtype == np.float16:
                    if kind == "out":
                        tmp = np.empty(v.shape, np.float32)
                        post.append((v, tmp))
                        v = tmp
                    else:
                        v = v.astype(np.float32)
            call.append(v)
        dispatcher(*call, sizes)
        for dst, tmp in post:
            np.copyto(dst, tmp, casting="unsafe")

    return Step(name, _serialised(run), reads, writes)


class StepError(OpError):
    """A data error in a Program step, with what the caller needs to name the user's
    line in *its* graph: ``key_index``, the position in the structural key's order of the
    node the step computes (None if unknown), and ``location``, where the node of the
    call that compiled the Program was built (the fallback)."""

    def __init__(self, op: str, message: str, key_index: int | None, location: str) -> None:
        super().__init__(f"{op}: {message} ({location})")
        self.op, self.message, self.key_index, self.location = op, message, key_index, location

    def at(self, location: str) -> OpError:
        """The same error naming ``location`` instead."""
        return OpError(f"{self.op}: {self.message} ({location})")


def library_step(name: str, fn: Callable, in_slots: list[int], out_slot: int,
                 location: str, op: str, key_index: int | None = None) -> Step:
    """A library call (NumPy/BLAS) for one opaque op: ``fn(vals, *inputs)`` returns the
    result; a data error raises :class:`StepError` (the caller names its own line)."""

    def run(vals: list) -> None:
        try:
            vals[out_slot] = fn(vals, *[vals[s] for s in in_slots])
        except OpError as err:
            raise StepError(op, str(err), key_index, location) from None

    return Step(name, _serialised(run), tuple(in_slots), (out_slot,))
