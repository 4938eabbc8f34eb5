"""A compiled Program: ordered steps over value slots, run by a plain Python loop.

Building a Program does all the graph work once (binding kernels to slots, sizes and
block counts); running it only calls prepared callables. Intermediate buffers belong
to the Program and are reused across calls; output buffers are fresh unless the
previous call's output is no longer referenced by anyone, in which case it is recycled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..ir import OpError


@dataclass
class BufferSpec:
    """The shape and dtype of an output buffer."""

    shape: tuple[int, ...]
    dtype: np.dtype


class OutputPool:
    """Recycles an output buffer once nobody but the pool references it."""

    __slots__ = ("spec", "last")

    def __init__(self, spec: BufferSpec) -> None:
        self.spec = spec
        self.last: np.ndarray | None = None

    def get(self) -> np.ndarray:
        last = self.last
        # References: self.last, the local `last` and getrefcount's argument.
        if last is not None and sys.getrefcount(last) <= 3:
            last.flags.writeable = True
            return last
        self.last = np.empty(self.spec.shape, self.spec.dtype)
        return self.last


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
    ``in_place`` maps ``(argument index, output index)`` to the switch of a step that can
    compute that output into that argument's buffer (built by the compiler).
    """

    steps: list[Step]
    n_slots: int
    arg_slots: list[int]
    output_slots: list[int]
    kernels: list = field(default_factory=list)  # each kernel's source, or a library op's name
    stats: dict = field(default_factory=dict)
    in_place: dict[tuple[int, int], list[bool]] = field(default_factory=dict)
    # Called once with the first run's arguments, before it: the compiler sets it to
    # compile the kernels on two processes (graphc.codegen.precompile).
    first_run: Callable[[Sequence], None] | None = None

    def run(self, args: Sequence, donate: Sequence[tuple[int, int]] = ()) -> list:
        """The output values for ``args``. ``donate`` lists ``(argument index, output
        index)`` pairs whose argument's old value is dead once the call returns (the
        caller replaces it with that output and nothing else holds it): where a step can,
        it writes the output into the argument's buffer instead of a new one."""
        if self.in_place:
            for pair, switch in self.in_place.items():
                switch[0] = pair in donate
        if self.first_run is not None:  # after the switches: they choose the kernels
            first_run, self.first_run = self.first_run, None
            first_run(args)
        vals: list = [None] * self.n_slots
        for slot, value in zip(self.arg_slots, args):
            vals[slot] = value
        self.run_steps(vals)
        outs = [vals[s] for s in self.output_slots]
        for out in outs:
            if type(out) is np.ndarray and out.base is None:
                out.setflags(write=False)  # no flags object: the per-call cost matters
        return outs

    def run_steps(self, vals: list) -> None:
        """Run every step over the value slots (benchmarks replace this to time steps)."""
        for step in self.steps:
            step.run(vals)


def overwritable(a: np.ndarray, switch: list[bool]) -> bool:
    """Whether a step may write its result over argument ``a``: the caller donated it for
    this call (``switch``) and ``a`` owns aligned C-contiguous memory (not a view)."""
    return switch[0] and a.base is None and a.flags.c_contiguous and a.flags.aligned


@dataclass
class InPlace:
    """A loop kernel's variant writing some outputs over its arguments' buffers
    (graphc.codegen.in_place), used when the caller donates one of them.

    ``params`` are (kind, slot) in the variant's signature order, a merged input read
    from its output's slot; ``pairs`` are (argument slot, output slot, switch), the
    switch set by :meth:`Program.run` for each call.
    """

    source: str
    params: list[tuple[str, int]]
    pairs: list[tuple[int, int, list[bool]]]
    _dispatcher: object = None

    def donated(self) -> bool:
        for _, _, switch in self.pairs:
            if switch[0]:
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
        for arg_slot, out_slot, switch in self.pairs:
            a = vals[arg_slot]
            if overwritable(a, switch):
                a.flags.writeable = True  # a Program output, made read-only when returned
            else:  # not donated, next to one that is: update a copy
                a = np.array(a, order="C")
            vals[out_slot] = a
            merged.add(out_slot)
        for slot, alloc in outs:
            if slot not in merged:
                vals[slot] = alloc()
        self.dispatcher()(*[vals[s] for _, s in self.params], sizes)


def loop_step(name: str, dispatcher, params: list[tuple[str, int]],
              outs: list[tuple[int, Callable]], sizes: np.ndarray,
              plain: bool = False, in_place: InPlace | None = None) -> Step:
    """A generated kernel call. ``params`` are (kind, slot) in signature order and
    ``outs`` (slot, allocator) for the arrays it writes. float16 arrays are converted at
    the kernel's edges (numba has no float16 arrays on the CPU). ``plain`` says no
    argument is float16 (known from the types when the Program is built): then the call
    passes the slots as they are, the per-step cost that matters for small steps and
    jitted functions. ``in_place`` (plain kernels only) is the variant run instead when
    a call donates one of its arguments."""
    reads = tuple(s for k, s in params if k != "out")
    writes = tuple(s for s, _ in outs)
    if plain:
        slots = [s for _, s in params]

        def run_plain(vals: list) -> None:
            if in_place is not None and in_place.donated():
                in_place.run(vals, outs, sizes)
                return
            for slot, alloc in outs:
                vals[slot] = alloc()
            dispatcher(*[vals[s] for s in slots], sizes)

        return Step(name, run_plain, reads, writes)

    def run(vals: list) -> None:
        for slot, alloc in outs:
            vals[slot] = alloc()
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

    return Step(name, run, reads, writes)


def library_step(name: str, fn: Callable, in_slots: list[int], out_slot: int,
                 location: str, op: str) -> Step:
    """A library call (NumPy/BLAS) for one opaque op; data errors name the user's line."""

    def run(vals: list) -> None:
        try:
            vals[out_slot] = fn(*[vals[s] for s in in_slots])
        except OpError as err:
            raise OpError(f"{op}: {err} ({location})") from None

    return Step(name, run, tuple(in_slots), (out_slot,))
