"""``graphc.bench.benchmark``: measure a suite or a user's file against the other systems
and return one result (its schema: graphc/bench/schema.py, docs/benchmarking.md).

For each case, in one run:

1. a **cold start** of each system in a fresh process (graphc: empty ``GRAPHC_CACHE_DIR``
   and ``NUMBA_CACHE_DIR``; ``torch.compile``: an empty ``TORCHINDUCTOR_CACHE_DIR``;
   JAX: its persistent cache off): process start to the first result (with ``quick``,
   none: the measurement runs on empty caches and graphc's first result in it is
   graphc's cold start);
2. the **measurement** process: every system's first call checked against graphc's
   result (a disagreeing system is reported and not timed), then steady-state calls in
   interleaved rounds, graphc's Program counted, and with ``profile`` its steps timed;
3. a **warm start** of each agreeing system (not with ``quick``), a second fresh
   process on the caches the cold one left, which also gives the case's memory: peak
   RSS minus the RSS after the imports (with ``quick``, from the cold start).

Every child runs with the same thread count (``threads``, default the CPUs this process
may use) through its library's setting and ``OMP_NUM_THREADS``-style variables.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from .case import SYSTEMS
from .environment import describe_machine, load_average
from .runner import ChildFailed, run_child

__all__ = ["SCHEMA_VERSION", "benchmark", "targets"]

SCHEMA_VERSION = "graphc-bench/1"
CHILD = "graphc.bench.child"


def targets(target: str) -> list[str]:
    """The case sources ``target`` names: ``all`` is every built-in suite.

    >>> targets("all")[:2], targets("x.py")
    (['elementwise', 'reduction'], ['x.py'])
    """
    from .suites import SUITES

    return list(SUITES) if target == "all" else [target]


def default_threads() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    """The variables that set every library's thread count to ``threads``."""
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "NUMBA_NUM_THREADS": n,
            "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") +
                          f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
                          f" intra_op_parallelism_threads={n}").strip()}


def child_env(threads: int) -> dict[str, str]:
    """The environment of every child: this one with the thread settings, graphc's
    compiled backend and no graph dumps."""
    env = dict(os.environ, **thread_env(threads), GRAPHC_BACKEND="compiled")
    env.pop("GRAPHC_DUMP", None)
    return env


@contextlib.contextmanager
def fresh_caches() -> Iterator[dict[str, str]]:
    """Empty compile caches for one system's cold and warm start (removed after)."""
    root = tempfile.mkdtemp(prefix="graphc-bench-")
    try:
        yield {"GRAPHC_CACHE_DIR": os.path.join(root, "graphc"),
               "NUMBA_CACHE_DIR": os.path.join(root, "numba"),
               "TORCHINDUCTOR_CACHE_DIR": os.path.join(root, "inductor"),
               "TRITON_CACHE_DIR": os.path.join(root, "triton"),
               "JAX_ENABLE_COMPILATION_CACHE": "false"}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(target: str, system: str, env: dict[str, str], options: list[str]) -> dict:
    try:
        return run_child(CHILD, ["--target", target, "--phase", "start", "--system", system,
                                 *options], env, what=f"{target} start ({system})")
    except ChildFailed as err:
        return {"status": "failed", "reason": str(err)[-2000:]}


def _start_times(run: dict) -> dict[str, Any]:
    return {"process_seconds": run["process_wall"],
            "first_result_seconds": run["first_result_wall"],
            "first_call_seconds": run["seconds"]["first_call"],
            "import_seconds": run["seconds"]["imports"],
            "calls": run["calls"]}


def _memory(run: dict) -> dict[str, int]:
    return {k: run[k] for k in ("rss_after_imports", "rss_peak", "case_rss")}


def measure_case(target: str, systems: Sequence[str], quick: bool, device: str,
                 threads: int, profile: bool, rounds: int,
                 progress: Any = None) -> dict[str, Any]:
    """One case's result (an entry of the result's ``cases``)."""
    base = child_env(threads)
    options = ["--threads", str(threads), "--device", device] + ["--quick"] * quick

    def tick(what: str) -> None:
        if progress is not None:
            progress.set_postfix_str(f"{target}: {what}", refresh=True)
            progress.update(1)

    started = [] if quick else list(systems)  # --quick: the measurement is graphc's cold start
    colds: dict[str, dict[str, Any]] = {}
    out: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        caches = {s: stack.enter_context(fresh_caches()) for s in systems}
        for system in started:
            colds[system] = _start(target, system, dict(base, **caches[system]), options)
            tick(f"cold start, {system}")
        measured_env = dict(base, **caches["graphc"])
        if "torch.compile" in caches:  # the measurement reuses its cold caches too
            measured_env["TORCHINDUCTOR_CACHE_DIR"] = \
                caches["torch.compile"]["TORCHINDUCTOR_CACHE_DIR"]
        try:
            measured = run_child(CHILD, ["--target", target, "--phase", "measure",
                                         "--systems", ",".join(systems),
                                         "--rounds", str(rounds), *options]
                                 + ["--profile"] * profile, measured_env,
                                 what=f"{target} measurement")
        except ChildFailed as err:
            measured = {"systems": {s: {"status": "failed", "reason": str(err)[-2000:]}
                                    for s in systems}, "label": ""}
        tick("steady state")
        if quick and "graphc_start" in measured:
            colds["graphc"] = dict(measured["graphc_start"], process_wall=None,
                                   first_result_wall=measured["first_result_wall"])
        for system in systems:
            if not quick:
                tick(f"warm start, {system}")  # (counted whether it runs or not)
            entry = out[system] = dict(measured["systems"].get(system, {"status": "failed"}))
            cold = colds.get(system)
            if entry["status"] != "ok":
                continue  # not installed, not provided, disagreeing: reported, not timed
            if cold is not None and cold["status"] != "ok":
                entry.update(status="failed", reason=cold.get("reason", cold["status"]))
                continue
            if cold is not None:
                entry["cold"] = _start_times(cold)
            if quick:
                if cold is not None:
                    entry["memory"] = _memory(cold)
                continue
            warm = _start(target, system, dict(base, **caches[system]), options)
            if warm["status"] != "ok":
                entry.update(status="failed", reason=warm.get("reason", warm["status"]))
                continue
            entry["warm"] = _start_times(warm)
            entry["memory"] = _memory(warm)
    return {"name": target, "label": measured.get("label") or os.path.basename(target),
            "timing": measured.get("timing"), "profile": measured.get("profile"),
            "systems": out}


def default_systems(quick: bool) -> list[str]:
    """Every system; with ``quick`` all but ``torch.compile``, whose compiles alone take
    minutes (inductor builds C++ per kernel).

    >>> default_systems(True)
    ['graphc', 'numpy', 'torch', 'jax']
    """
    return [s for s in SYSTEMS if not (quick and s == "torch.compile")]


def benchmark(target: str, *, systems: Sequence[str] | None = None, device: str = "cpu",
              quick: bool = False, profile: bool = False, threads: int | None = None,
              rounds: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Benchmark ``target`` (a suite of :data:`graphc.bench.suites.SUITES`, ``"all"``, or
    a path to a user's ``.py`` file) on ``systems`` (default :func:`default_systems`);
    the result as a JSON-ready dict
    (graphc/bench/schema.py).

    >>> result = benchmark("my_model.py", quick=True)  # doctest: +SKIP
    >>> result["cases"][0]["systems"]["torch"]["time_vs_graphc"]  # doctest: +SKIP
    1.8
    """
    from .case import load_source

    systems = default_systems(quick) if systems is None else systems
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"graphc bench: unknown systems {unknown}; expected some of "
                         f"{', '.join(SYSTEMS)}")
    if device not in ("cpu", "gpu"):
        raise ValueError(f"graphc bench: --device {device!r}; expected cpu or gpu")
    if device == "gpu":
        from graphc.backends.cuda_device import gpu_status

        status = gpu_status()
        if not status.usable:
            raise ValueError(f"graphc bench: --device gpu, but graphc cannot use a GPU "
                             f"here: {status.reason}")
    if target.endswith(".py"):
        target = os.path.abspath(target)
    names = targets(target)
    for name in names:  # an unknown suite, a missing file or graphc_case fails here,
        load_source(name)  # before any child
    systems = ["graphc", *[s for s in systems if s != "graphc"]]
    threads = threads or default_threads()
    rounds = rounds or (3 if quick else 7)
    started = datetime.datetime.now(datetime.timezone.utc)
    machine = describe_machine(threads, device, child_env(threads))
    bar = None
    if progress:
        from tqdm import tqdm

        children = 1 if quick else 2 * len(systems) + 1
        bar = tqdm(total=len(names) * children, unit="process",
                   desc="graphc bench", dynamic_ncols=True)
    try:
        cases = [measure_case(name, systems, quick, device, threads, profile, rounds, bar)
                 for name in names]
    finally:
        if bar is not None:
            bar.close()
    machine["machine"]["load_after"] = load_average()
    return {"schema": SCHEMA_VERSION, "target": target, "quick": quick, "device": device,
            "profile": profile, "started": started.isoformat(timespec="seconds"),
            "seconds": (datetime.datetime.now(datetime.timezone.utc) - started)
            .total_seconds(), **machine, "cases": cases}
