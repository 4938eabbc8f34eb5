"""Threading set-up, applied when graphc is imported (never overriding a user's choice).

numba's default OpenMP threading layer spins waiting threads, which starves OpenBLAS
running between two parallel kernels. Measured here (2 cores): an MLP training step
mixing ``np.matmul`` with ``prange`` kernels took 32 ms with the OpenMP default and
3.4 ms with ``OMP_WAIT_POLICY=passive`` (5.6 ms with numba's ``workqueue`` layer).
The variable must be set before the OpenMP runtime starts its threads, i.e. before the
first parallel kernel runs, which importing graphc guarantees.
"""

from __future__ import annotations

import os

DEFAULTS = {"OMP_WAIT_POLICY": "passive"}


def configure_threading() -> dict[str, str]:
    """Set threading defaults the user has not set; returns what was set.

    >>> isinstance(configure_threading(), dict)
    True
    """
    applied = {}
    for name, value in DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
            applied[name] = value
    return applied


def threading_info() -> dict:
    """The thread counts and environment that change timings (for benchmarks)."""
    info = {name: os.environ.get(name, "(unset)") for name in
            ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NUMBA_THREADING_LAYER",
             "NUMBA_NUM_THREADS")}
    try:
        import numba

        info["numba_threads"] = numba.get_num_threads()
        try:
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:
            info["numba_threading_layer"] = "(not started)"
    except ImportError:  # pragma: no cover - numba is a dependency
        pass
    return info


configure_threading()
