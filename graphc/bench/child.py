"""The child processes of ``graphc bench`` (run through :mod:`graphc.bench.runner`):

- ``--phase start --system S``: one system alone in a fresh process, as a user's
  program starts: import, build the case, the first call (announced to the parent, who
  times process start to it), a few more calls, and the resident memory: after the
  imports, and at the peak;
- ``--phase measure``: every system of the case in one process: graphc's first call
  (announced: on empty caches, a ``--quick`` run's cold start), each other system's
  first call checked against graphc's result, then the agreeing ones timed in interleaved rounds
  (:func:`graphc.bench.harness.interleaved_rounds`), graphc's Program counted and, with
  ``--profile``, its steps timed one by one (:mod:`graphc.bench.profile`).

``python -m graphc.bench.child --target mlp-train --phase start --system graphc --out r.json``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any

from .runner import announce, rss_bytes, since_start


def _set_threads(threads: int, system: str) -> None:
    if system in ("torch", "torch.compile"):
        import torch

        torch.set_num_threads(threads)
    if system == "graphc":
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def threads_of(system: str) -> int | None:
    """The thread count ``system`` runs with in this process (None: not readable)."""
    if system in ("torch", "torch.compile"):
        import torch

        return torch.get_num_threads()
    if system == "graphc":
        import numba

        return numba.get_num_threads()
    if system == "numpy":
        try:
            from threadpoolctl import threadpool_info
        except ImportError:
            return None
        blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        return max(blas, default=None)
    return None  # JAX: XLA_FLAGS' intra_op_parallelism_threads


def graphc_counts() -> dict[str, Any]:
    """The Programs graphc compiled in this process: the step's (the largest) kernel
    count and planned intermediate bytes, and how many Programs there are."""
    from graphc.runtime import compiler

    programs = [c.program for c in compiler._programs.values()]
    if not programs:
        return {"programs": 0, "kernels": None, "planned_bytes": None}
    step = max(programs, key=lambda p: p.stats.get("kernels", 0))
    return {"programs": len(programs), "kernels": step.stats.get("kernels"),
            "planned_bytes": step.stats.get("planned_bytes")}


def _start_record(until_main: float | None, imports: float, build: float, first: float,
                  calls: list[float], rss_imports: dict[str, int]) -> dict[str, Any]:
    """A start's record (the parent's ``cold``/``warm`` and ``memory``), the resident
    memory's peak read now."""
    peak = rss_bytes()["peak"]
    return {"status": "ok", "seconds": {"until_main": until_main, "imports": imports,
                                        "build": build, "first_call": first},
            "calls": calls, "rss_after_imports": rss_imports["peak"],
            "rss_peak": peak, "case_rss": peak - rss_imports["peak"]}


def start(target: str, system: str, quick: bool, device: str, threads: int,
          steps: int) -> dict[str, Any]:
    """The ``start`` phase (see the module's docstring)."""
    from .case import LIBRARY, installed, load_source, prepare

    until_main = since_start()
    if not installed(system):
        return {"status": "not installed", "reason": f"{LIBRARY[system]} is not installed"}
    t = time.perf_counter()
    __import__(LIBRARY[system])
    _set_threads(threads, system)
    imports = time.perf_counter() - t
    rss_imports = rss_bytes()
    t = time.perf_counter()
    prepared = prepare(system, load_source(target), quick, device)
    if prepared is None:
        return {"status": "not provided"}
    build = time.perf_counter() - t
    t = time.perf_counter()
    prepared.call()
    first = time.perf_counter() - t
    announce(first)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        prepared.call()
        times.append(time.perf_counter() - t)
    result = _start_record(until_main, imports, build, first, times, rss_imports)
    if system == "graphc":
        result["graphc"] = graphc_counts()
    return result


def _max_difference(ours: list, theirs: list, rtol: float, atol: float) -> tuple[bool, str]:
    """Whether ``theirs`` equals ``ours`` (graphc's) within tolerance, and what differs."""
    import numpy as np

    if len(ours) != len(theirs):
        return False, f"returned {len(theirs)} arrays where graphc returned {len(ours)}"
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours, theirs)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return False, f"output {i} has shape {b.shape} where graphc's is {a.shape}"
        if a.size:
            diff = np.abs(a - b)
            bad = diff > atol + rtol * np.abs(a)
            worst = max(worst, float(np.nanmax(diff)))
            if bad.any() or np.isnan(b).any() != np.isnan(a).any():
                return False, (f"output {i} differs from graphc's: max |diff| {worst:.3g} "
                               f"(tolerance {atol:g} + {rtol:g}·|graphc|)")
    return True, f"max |diff| {worst:.3g}"


def measure(target: str, systems: list[str], quick: bool, device: str, threads: int,
            rounds: int, profile: bool) -> dict[str, Any]:
    """The ``measure`` phase (see the module's docstring)."""
    from .case import LIBRARY, installed, load_source, to_numpy
    from .case import prepare as prepare_case
    from .harness import calibrate, interleaved_rounds

    until_main = since_start()
    t = time.perf_counter()
    __import__("graphc")
    imports = time.perf_counter() - t
    rss_imports = rss_bytes()
    source = load_source(target)
    report: dict[str, dict[str, Any]] = {}
    ready = {}
    reference = None
    result: dict[str, Any] = {}
    for system in systems:
        if not installed(system):
            report[system] = {"status": "not installed",
                              "reason": f"{LIBRARY[system]} is not installed"}
            continue
        try:
            _set_threads(threads, system)
            t = time.perf_counter()
            prepared = prepare_case(system, source, quick, device)
            if prepared is None:
                report[system] = {"status": "not provided"}
                continue
            build = time.perf_counter() - t
            t = time.perf_counter()
            outputs = to_numpy(prepared.call())
            first = time.perf_counter() - t
        except Exception as err:  # a system that fails is reported, the others go on
            report[system] = {"status": "failed", "reason": _failure(err)}
            continue
        if system == "graphc":
            # graphc goes first: in a --quick run, on empty caches, this is its cold
            # start (the parent times the process to this line).
            announce(first)
            result["graphc_start"] = _start_record(until_main, imports, build, first, [],
                                                   rss_imports)
            reference = (outputs, prepared.case)
            report[system] = {"status": "ok", "check": "the reference"}
        elif reference is None:
            report[system] = {"status": "unchecked",
                              "reason": "graphc has no result to check it against"}
        else:
            same, detail = _max_difference(reference[0], outputs, prepared.case.rtol,
                                           prepared.case.atol)
            report[system] = {"status": "ok" if same else "disagrees", "check": detail}
            if not same:
                continue
        ready[system] = prepared.call
        report[system]["threads"] = threads_of(system)
    result.update(systems=report, label=reference[1].label if reference else "")
    if ready:
        repeat = calibrate(ready, target=0.05 if quick else 0.25, most=50 if quick else 200)
        r = interleaved_rounds(ready, rounds=rounds, repeat=repeat, warmup=1,
                               settle=0.02 if quick else 0.1)
        for system in ready:
            report[system]["steady"] = r.summary(system)
            if "graphc" in ready:
                report[system]["time_vs_graphc"] = r.ratio(system, "graphc")
        result["timing"] = {"rounds": rounds, "repeat": repeat, "warmup": 1}
    if "graphc" in ready:
        report["graphc"]["graphc"] = graphc_counts()
        if profile:
            from .profile import profile_calls

            result["profile"] = profile_calls(ready["graphc"], calls=5 if quick else 20)
    return result


def _failure(err: BaseException) -> str:
    lines = traceback.format_exception_only(type(err), err)
    return " ".join("".join(lines).split())[:1000]


def _clean(value: Any) -> Any:
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> None:
    """The child's command line (the parent, graphc/bench/api.py, builds it)."""
    parser = argparse.ArgumentParser(prog="python -m graphc.bench.child")
    parser.add_argument("--target", required=True)
    parser.add_argument("--phase", choices=("start", "measure"), required=True)
    parser.add_argument("--system", default="graphc")
    parser.add_argument("--systems", default="graphc")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.phase == "start":
        try:
            result = start(args.target, args.system, args.quick, args.device, args.threads,
                           args.steps)
        except Exception as err:
            result = {"status": "failed", "reason": _failure(err)}
    else:
        result = measure(args.target, args.systems.split(","), args.quick, args.device,
                         args.threads, args.rounds, args.profile)
    Path(args.out).write_text(json.dumps(_clean(result)))


if __name__ == "__main__":
    main()
