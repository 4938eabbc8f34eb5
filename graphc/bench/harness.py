"""Timing helpers: medians of repeated runs, and the machine facts to print beside them."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeat: int = 15, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
