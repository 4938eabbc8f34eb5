"""Timing helpers: medians of repeated runs, and the machine facts to print beside them."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def call_seconds(fn: Callable[[], object], repeat: int, warmup: int = 0) -> list[float]:
    """Wall seconds of each of ``repeat`` calls of ``fn()``, after ``warmup`` untimed ones:
    the one timing method of every benchmark here (a call that must wait for a device
    synchronises inside ``fn``, so the clock sees the work finished)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def median_seconds(fn: Callable[[], object], repeat: int = 15, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    return statistics.median(call_seconds(fn, repeat, warmup))


def calibrate(fns: dict[str, Callable[[], object] | None], target: float = 0.2,
              most: int = 200) -> int:
    """Calls per round so that the slowest contender's round lasts about ``target``
    seconds (at least 3 calls, at most ``most``), from one timed call of each after one
    warm-up call.

    >>> calibrate({"fast": lambda: None}, target=0.01) == 200
    True
    """
    slowest = 0.0
    for fn in fns.values():
        if fn is not None:
            slowest = max(slowest, call_seconds(fn, 1, warmup=1)[0])
    return max(3, min(most, int(target / slowest) if slowest > 0 else most))


@dataclass
class Rounds:
    """Per-round median seconds of each contender, timed in interleaved rounds, and
    every call's seconds (``calls[name][round]``)."""

    seconds: dict[str, list[float]]
    calls: dict[str, list[list[float]]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        """The median over rounds of ``name``'s round medians (NaN when absent)."""
        times = self.seconds.get(name)
        return statistics.median(times) if times else float("nan")

    def ratio(self, name: str, other: str) -> float:
        """The median over rounds of ``name`` / ``other`` measured in the same round:
        a paired comparison, so the load both saw together cancels.

        >>> Rounds({"a": [2.0, 4.0, 9.0], "b": [1.0, 1.0, 3.0]}).ratio("a", "b")
        3.0
        """
        a, b = self.seconds.get(name), self.seconds.get(other)
        if not a or not b:
            return float("nan")
        return statistics.median(x / y for x, y in zip(a, b))

    def summary(self, name: str) -> dict:
        """``name``'s median (of round medians), min and max (of every call) in seconds,
        with the raw round medians and calls (the JSON's ``steady``)."""
        calls = [t for r in self.calls.get(name, []) for t in r]
        return {"median": self.median(name), "min": min(calls, default=float("nan")),
                "max": max(calls, default=float("nan")), "rounds": self.seconds[name],
                "calls": self.calls.get(name, [])}


def interleaved_rounds(fns: dict[str, Callable[[], object] | None], rounds: int = 7,
                       repeat: int = 10, warmup: int = 2, settle: float = 0.2) -> Rounds:
    """Time every contender in ``rounds`` rounds of ``repeat`` calls each (after
    ``warmup`` calls in each round), rotating which goes first.

    On a shared machine the load changes from one second to the next: timing one
    contender for a while and then the next compares different machines. Rounds of a
    fraction of a second each, compared pairwise (:meth:`Rounds.ratio`), see the same
    machine. None entries (a framework not installed) are skipped.

    >>> r = interleaved_rounds({"a": lambda: None, "b": lambda: None}, rounds=3, repeat=2)
    >>> len(r.seconds["a"]), len(r.calls["b"][0]), r.ratio("a", "missing")
    (3, 2, nan)
    """
    present = [(name, fn) for name, fn in fns.items() if fn is not None]
    seconds: dict[str, list[float]] = {name: [] for name, _ in present}
    calls: dict[str, list[list[float]]] = {name: [] for name, _ in present}
    for r in range(rounds):
        shift = r % len(present) if present else 0
        for name, fn in present[shift:] + present[:shift]:
            time.sleep(settle)
            times = call_seconds(fn, repeat, warmup)
            calls[name].append(times)
            seconds[name].append(statistics.median(times))
    return Rounds(seconds, calls)


def environment() -> dict:
    """Thread counts and the BLAS/OpenMP environment variables that change timings."""
    import numba

    info = {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": _threading_layer()}
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER"):
        info[var] = os.environ.get(var, "(unset)")
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [(p.get("internal_api"), p.get("num_threads"))
                        for p in threadpool_info()]
    except ImportError:
        pass
    return info


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return "(not started)"


_BARE_NUMBA = ("import numpy as np\nfrom numba import njit, prange\n"
               "@njit(parallel=True, cache=True)\n"
               "def f(a, b):\n    for i in prange(a.shape[0]):\n        b[i] = a[i] * 0.9 + 0.1\n"
               "a = np.ones(65536, np.float32); b = np.empty_like(a); f(a, b)\n")


def process_wall_times(script: str) -> tuple[float, float, float]:
    """Whole-process wall seconds of ``script``: (cold, warm, bare numba warm).

    Cold runs with empty graphc and numba caches; warm runs again in a new process on
    the caches the cold run left. The baseline is a bare numba program loading one
    cached parallel kernel: what any numba-based program pays at start-up.
    """
    import sys
    import tempfile

    from .runner import run_process

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=cache, NUMBA_CACHE_DIR=cache)

        def wall(*args: str) -> float:
            return run_process([sys.executable, *args], env)[1]

        bare_path = os.path.join(cache, "bare_kernel.py")
        with open(bare_path, "w") as f:
            f.write(_BARE_NUMBA)
        cold = wall("-c", script)
        warm = wall("-c", script)
        wall(bare_path)
        bare_warm = wall(bare_path)
    return cold, warm, bare_warm


def report_process_latency(label: str, script: str, targets: str = "") -> None:
    """Print ``process_wall_times(script)`` as one line: cold, warm, and warm over a bare
    numba program (``targets`` is appended, e.g. ``"cold <= 4 s"``)."""
    cold, warm, bare_warm = process_wall_times(script)
    print(f"\n{label} (whole process): graphc cold {cold:.2f} s, graphc warm {warm:.2f} s, "
          f"bare numba warm {bare_warm:.2f} s (warm - bare = {warm - bare_warm:+.2f} s)"
          + (f"; targets: {targets}" if targets else ""))
