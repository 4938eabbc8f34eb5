"""Where a first step's time goes: clocks a benchmark process installs on itself.

:class:`NumbaClock` listens to numba's compiler events (``numba.core.event``:
``numba:compile``, ``numba:run_pass``, ``numba:llvm_lock``) and splits each compile —
one record per top-level ``dispatcher.compile``, the functions it compiles on the way
included — into exclusive parts: type inference, lowering to LLVM IR in Python, LLVM
itself (time holding llvmlite's lock: parsing, optimising, machine code), numba's other
passes, and the rest. :class:`Instruments` adds wall clocks around graphc's realization,
its Program runs, the two-process compile and numba's cache loads and saves.

:func:`kernel_structures` counts how many generated kernel sources there are, and how
many would remain if float constants (or all literals) were runtime arguments:

>>> a = "v1 = (v0 * float32(0.125))\\nout[i0] = v1"
>>> b = "v1 = (v0 * float32(0.25))\\nout[i0] = v1"
>>> kernel_structures([a, b])["sources"], kernel_structures([a, b])["up_to_floats"]
(2, 1)
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from contextlib import ExitStack
from typing import Any

# numba's passes (their ``_name``) by what they do.
TYPING = frozenset({"nopython_type_inference", "partial_type_inference"})
LOWERING = frozenset({"native_lowering", "native_parfor_lowering"})

_FLOAT = re.compile(r"(?<![\w.])-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|np\.inf|np\.nan)")
_INT = re.compile(r"(?<![\w.])-?\d+(?![\w.])")


def kernel_structures(sources: list[str]) -> dict[str, int]:
    """Distinct kernel ``sources`` (their cache keys), and distinct structures once float
    literals (``up_to_floats``) or all numeric literals (``up_to_literals``: integers in
    index expressions too, an upper bound on sharing) are abstracted away.

    >>> kernel_structures(["x[0] = float32(1.5)", "x[1] = float32(2.5)"])
    {'sources': 2, 'up_to_floats': 2, 'up_to_literals': 1}
    """
    floats = {_FLOAT.sub("#f", s) for s in sources}
    return {"sources": len(set(sources)), "up_to_floats": len(floats),
            "up_to_literals": len({_INT.sub("#i", s) for s in floats})}


def structure_of(source: str) -> str:
    """``source`` with its float literals abstracted (what :func:`kernel_structures`
    calls ``up_to_floats``).

    >>> structure_of("v = float32(-0.125) + float32(np.inf)")
    'v = float32(#f) + float32(#f)'
    """
    return _FLOAT.sub("#f", source)


def kernel_ops(source: str) -> int | None:
    """The op count in a generated kernel's header (``# graphc kernel: N ops ...``).

    >>> kernel_ops("# graphc kernel: 22 ops over domain NxN")
    22
    """
    m = re.search(r"# graphc kernel: (\d+) ops", source)
    return int(m.group(1)) if m else None


class NumbaClock:
    """Exclusive times of numba's compiles in this process, one record per top-level
    compile: ``{"name", "seconds", "typing", "lowering", "llvm", "passes", "other"}``
    (``passes``: numba's other passes; ``other``: outside any pass and the LLVM lock).
    Also each numba pass's total (``pass_seconds``, exclusive) over every compile.

    >>> from numba import njit
    >>> clock = NumbaClock()
    >>> with clock:
    ...     _ = njit(lambda x: x + 1)(1)
    >>> [r["typing"] > 0 and r["llvm"] > 0 for r in clock.records]
    [True]
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.pass_seconds: Counter = Counter()
        self._stack: list[str] = []  # categories, innermost last
        self._passes: list[tuple[str, float]] = []  # running passes and their starts
        self._current: dict[str, Any] | None = None
        self._last = self._start = 0.0
        self._stop = ExitStack()

    def __enter__(self) -> NumbaClock:
        from numba.core import event

        for kind, what in (("numba:compile", "compile"), ("numba:run_pass", "pass"),
                           ("numba:llvm_lock", "llvm")):
            listener = _listener(self, what)
            event.register(kind, listener)
            self._stop.callback(event.unregister, kind, listener)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.close()

    def _flush(self, now: float) -> None:
        assert self._current is not None
        self._current[self._stack[-1]] += now - self._last
        self._last = now

    def enter(self, what: str, event: Any) -> None:
        now = time.perf_counter()
        if self._current is None:
            if what != "compile":
                return  # LLVM work outside a compile (loading a cached kernel)
            dispatcher = event.data["dispatcher"]
            func = dispatcher.py_func
            self._current = {"name": f"{func.__module__}.{func.__qualname__}", "seconds": 0.0,
                             "typing": 0.0, "lowering": 0.0, "llvm": 0.0, "passes": 0.0,
                             "other": 0.0}
            self._start = self._last = now
            self._stack = ["other"]
            self._passes = []
            return
        self._flush(now)
        if what == "compile":
            self._stack.append("other")
        elif what == "llvm":
            self._stack.append("llvm")
        else:
            name = event.data["name"].split(" [", 1)[0]
            self._stack.append("typing" if name in TYPING else
                               "lowering" if name in LOWERING else "passes")
            self._passes.append((name, now))

    def leave(self, what: str, event: Any) -> None:
        if self._current is None:
            return
        now = time.perf_counter()
        self._flush(now)
        self._stack.pop()
        if what == "pass" and self._passes:
            name, t0 = self._passes.pop()
            self.pass_seconds[name] += now - t0  # inclusive of nested compiles' passes
        if not self._stack:
            self._current["seconds"] = now - self._start
            self.records.append(self._current)
            self._current = None

    def summary(self) -> dict[str, Any]:
        """Totals over the records, and medians per compile."""
        parts = ("seconds", "typing", "lowering", "llvm", "passes", "other")
        total = {p: sum(r[p] for r in self.records) for p in parts}
        median = {p: statistics.median(r[p] for r in self.records) if self.records else 0.0
                  for p in parts}
        return {"compiles": len(self.records), "total": total, "median": median,
                "pass_seconds": dict(self.pass_seconds.most_common(12))}


def _listener(clock: NumbaClock, what: str) -> Any:
    """A numba event listener forwarding one kind of event to ``clock``."""
    from numba.core.event import Listener

    class Forward(Listener):
        def on_start(self, event: Any) -> None:
            clock.enter(what, event)

        def on_end(self, event: Any) -> None:
            clock.leave(what, event)

    return Forward()


class Wall:
    """Calls and wall seconds of a wrapped function (see :class:`Instruments`).

    >>> w = Wall()
    >>> w.wrap(lambda x: x + 1)(1), w.calls
    (2, 1)
    """

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.first = None  # seconds of the first call

    def wrap(self, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                self.calls += 1
                self.seconds += dt
                if self.first is None:
                    self.first = dt

        timed.__wrapped__ = fn
        return timed

    def snapshot(self) -> dict[str, float]:
        return {"calls": self.calls, "seconds": self.seconds}


class Instruments:
    """Wall clocks on graphc's realization (``compiler.execute``), Program runs, the
    two-process compile (``precompile.compile_in_parallel``) and numba's verified cache
    (``load_overload``, ``save_overload``), plus a :class:`NumbaClock`. Installed on this
    process for its life: a benchmark child's, never a library's.

    >>> with Instruments() as clocks:
    ...     pass
    >>> sorted(clocks.walls)
    ['cache_load', 'cache_save', 'parallel_compile', 'program_run', 'realize']
    """

    def __init__(self) -> None:
        self.walls = {name: Wall() for name in ("realize", "program_run", "parallel_compile",
                                                "cache_load", "cache_save")}
        self.numba = NumbaClock()
        self._undo = ExitStack()

    def __enter__(self) -> Instruments:
        from graphc.codegen import numba_cache, precompile
        from graphc.runtime import compiler, program

        for owner, attr, wall in ((compiler, "execute", "realize"),
                                  (program.Program, "run", "program_run"),
                                  (precompile, "compile_in_parallel", "parallel_compile"),
                                  (numba_cache.VerifiedCache, "load_overload", "cache_load"),
                                  (numba_cache.VerifiedCache, "save_overload", "cache_save")):
            original = owner.__dict__[attr]
            setattr(owner, attr, self.walls[wall].wrap(original))
            self._undo.callback(setattr, owner, attr, original)
        self._undo.enter_context(self.numba)
        return self

    def __exit__(self, *exc: object) -> None:
        self._undo.close()

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {name: wall.snapshot() for name, wall in self.walls.items()}
