"""What a Program will pass to its kernels, known before it runs: for compiling them
ahead of the first run, on two processes (graphc.codegen.precompile).

A Program's kernels compile at their first call, when numba sees the arguments. The
compiler records what each step does (:class:`CallPlan`), so that with the first run's
arguments in hand every kernel call's argument types can be predicted without running
anything: each kernel's types are read off its kernel IR's signature (dtypes, ranks,
scalars, the sizes: graphc/codegen/cpu_signature.py), with each array's layout taken from
the array the call will get: arguments as they are, each computed value a new
C-contiguous array of its slot's type (which is what Programs allocate), each view the
same view of such an array. A prediction that turns out wrong costs only a compile at
the call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class CallPlan:
    """``step_info``: step index → ``("view", src, dst, fn)``, ``("const", dst, value)``
    or ``("loop", dispatcher, params, sizes, source, in_place, signature,
    in_place_signature)`` (``in_place`` the kernel's
    :class:`~graphc.runtime.program.InPlace` variant or None: it is the one predicted
    while a donation switches it on; the signatures are the kernel IR's parameters);
    ``slot_type``: each slot's TensorType; ``arg_slots``: where the Program's arguments go."""

    step_info: dict[int, tuple]
    slot_type: list
    arg_slots: list[int]

    def predict(self, args: Sequence, variants: bool = False,
                on: frozenset = frozenset()) -> list[tuple[int, object, tuple]]:
        """``(step index, dispatcher, numba argument types)`` of each kernel call a run
        with ``args`` makes, in order, without running a kernel. ``variants`` adds the
        calls of in-place variants that this run does not make (later runs may)."""
        from ..codegen.cpu_signature import argument_types

        vals: list = [None] * len(self.slot_type)
        for slot, value in zip(self.arg_slots, args):
            vals[slot] = value

        def value(slot: int):
            if vals[slot] is None:
                t = self.slot_type[slot]
                vals[slot] = np.empty(t.shape, t.dtype)  # untouched pages cost no memory
            return vals[slot]

        calls = []
        for index in sorted(self.step_info):
            info = self.step_info[index]
            if info[0] == "view":
                _, src, dst, view = info
                vals[dst] = view(value(src))
            elif info[0] == "const":
                vals[info[1]] = info[2]
            else:
                _, dispatcher, params, _, _, in_place, signature, in_place_signature = info
                chosen = [(dispatcher, params, signature)]
                if in_place is not None and in_place.donated(on):  # the variant runs
                    chosen = [(in_place.dispatcher(), in_place.params, in_place_signature)]
                elif in_place is not None and variants:
                    chosen.append((in_place.dispatcher(), in_place.params, in_place_signature))
                for dispatcher, params, signature in chosen:
                    types = argument_types(signature, [value(slot) for _, slot in params])
                    calls.append((index, dispatcher, types))
        return calls

    def jobs(self, args: Sequence, only: set[int] | None = None,
             on: frozenset = frozenset()) -> list[tuple]:
        """``(dispatcher, source, argument types)`` once per kernel, in-place variants
        included (those whose ``id(dispatcher)`` is in ``only``, if given), longest
        source first: the order in which to compile them on two processes."""
        sources = {}
        for info in self.step_info.values():
            if info[0] == "loop":
                sources[id(info[1])] = info[4]
                if info[5] is not None:
                    sources[id(info[5].dispatcher())] = info[5].source
        jobs: dict[int, tuple] = {}
        for _, dispatcher, types in self.predict(args, variants=True, on=on):
            key = id(dispatcher)
            if only is None or key in only:
                jobs.setdefault(key, (dispatcher, sources[key], types))
        return sorted(jobs.values(), key=lambda job: -len(job[1]))

    def parallel_compile_hook(self) -> Callable[[Sequence, frozenset, object], None] | None:
        """The Program's ``first_run``: compile the kernels missing from numba's cache on
        two processes, once the arguments are known; None when there are too few. Its
        third argument, the compile's progress (graphc.runtime.progress) or None, hears
        of each kernel step as either process starts it and as it is done."""
        from ..codegen import precompile

        if not precompile.enabled():
            return None
        loops = [info for info in self.step_info.values() if info[0] == "loop"]
        missing = {id(info[1]) for info in loops if not precompile.is_cached(info[1])}
        if len(missing) < precompile.MIN_KERNELS:
            return None

        def first_run(args: Sequence, on: frozenset, progress=None) -> None:
            # The in-place variants too: the runs after the first donate their state.
            for info in loops:
                if info[5] is not None and not precompile.is_cached(info[5].dispatcher()):
                    missing.add(id(info[5].dispatcher()))
            try:
                jobs = self.jobs(args, missing, on)
            except Exception:  # an argument we cannot type ahead: kernels compile at
                return  # their calls, as without a helper (the run reports real errors)
            if len(jobs) >= precompile.MIN_KERNELS:
                precompile.compile_in_parallel(
                    jobs, report=None if progress is None else self._reporter(jobs, progress))

        return first_run

    def _reporter(self, jobs: Sequence[tuple], progress) -> Callable[[int, str], None]:
        """``report(job index, "start" | "done")`` for compile_in_parallel: tells
        ``progress`` about the kernel step whose kernel (or in-place variant) it is."""
        step_of = {}
        for index, info in self.step_info.items():
            if info[0] == "loop":
                step_of[id(info[1])] = index
                if info[5] is not None and info[5]._dispatcher is not None:
                    step_of[id(info[5]._dispatcher)] = index
        steps = [step_of.get(id(job[0])) for job in jobs]

        def report(job: int, what: str) -> None:
            step = steps[job]
            if step is None:
                return
            if what == "start":
                progress.start(step)
            else:  # missing from the cache: compiled now, here or by the helper
                progress.done(step, "new")

        return report
