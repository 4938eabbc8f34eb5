"""Threading defaults, applied when graphc is imported, never overriding a user's choice.

numba's default threading layer is OpenMP (GNU libgomp here). Its worker threads spin after
each parallel region, and OpenBLAS (pthreads) running between two ``prange`` kernels then
fights them for the cores. /tmp benchmark on this machine (2 cores, OpenBLAS 0.3.31
pthreads, libgomp): a step of np.dot → prange kernel → np.dot → prange kernel → prange
column sum on 256×512 float32 (the two dots alone take 1.4 ms), median of 200 steps:

=====================================  ===========
configuration                          step
=====================================  ===========
OpenMP layer, defaults                 16–24 ms
OpenMP layer, OMP_WAIT_POLICY=passive  1.8–1.9 ms
workqueue layer                        2.0–2.2 ms
tbb layer                              not installed
=====================================  ===========

So graphc keeps the OpenMP layer and sets ``OMP_WAIT_POLICY=passive``. libgomp reads the
variable once, when it is loaded, which numba does when the first parallel kernel runs:
importing graphc first is early enough. If libgomp is already loaded (another library
brought it in) the variable comes too late, so numba is steered to its ``workqueue`` layer
instead: nearly as fast, and it does not spin.
"""

from __future__ import annotations

import os
import sys
import warnings

DEFAULTS = {"OMP_WAIT_POLICY": "passive"}
FALLBACK_LAYER = "workqueue"
_ENV_SHOWN = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "MKL_NUM_THREADS", "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS")


def _numba_threads_started() -> bool:
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    return bool(parallel is not None and getattr(parallel, "_is_initialized", False))


def _openmp_loaded() -> bool:
    """Whether an OpenMP runtime is already mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libgomp" in line or "libiomp" in line for line in maps)
    except OSError:
        return False


def configure_threading() -> dict[str, str]:
    """Set the threading defaults the user has not set; returns what was set.

    Call before any parallel kernel runs (``import graphc`` does).

    >>> applied = configure_threading()   # {} when already applied or set by the user
    >>> os.environ["OMP_WAIT_POLICY"] != ""
    True
    """
    if _numba_threads_started():
        if "OMP_WAIT_POLICY" not in os.environ:
            warnings.warn("numba started its threads before graphc was imported; "
                          "OMP_WAIT_POLICY=passive cannot take effect, so parallel kernels "
                          "may starve BLAS. Import graphc first or set OMP_WAIT_POLICY.",
                          RuntimeWarning, stacklevel=2)
        return {}
    applied = {}
    if ("OMP_WAIT_POLICY" not in os.environ and "NUMBA_THREADING_LAYER" not in os.environ
            and _openmp_loaded()):
        applied["NUMBA_THREADING_LAYER"] = os.environ["NUMBA_THREADING_LAYER"] = FALLBACK_LAYER
        numba_config = sys.modules.get("numba.core.config")
        if numba_config is not None:  # numba read the environment at import: tell it too
            numba_config.THREADING_LAYER = FALLBACK_LAYER
    for name, value in DEFAULTS.items():
        if name not in os.environ:
            applied[name] = os.environ[name] = value
    return applied


def launches_serialised() -> bool:
    """Whether parallel kernels must run one at a time: numba's ``workqueue`` layer
    (graphc's fallback when an OpenMP runtime was loaded first, or the user's choice)
    terminates the process when two Python threads run parallel kernels at once. The
    ``omp`` and ``tbb`` layers run them concurrently.

    >>> launches_serialised() in (True, False)
    True
    """
    layer = os.environ.get("NUMBA_THREADING_LAYER", "")
    if not layer:
        numba_config = sys.modules.get("numba.core.config")
        layer = getattr(numba_config, "THREADING_LAYER", "") if numba_config else ""
    return layer == "workqueue"


def threading_info() -> dict[str, object]:
    """Thread counts, layers and environment that change timings (for benchmarks).

    >>> sorted(threading_info())[:3]
    ['MKL_NUM_THREADS', 'NUMBA_NUM_THREADS', 'NUMBA_THREADING_LAYER']
    """
    import numba

    info: dict[str, object] = {name: os.environ.get(name, "(unset)") for name in _ENV_SHOWN}
    info["numba_threads"] = numba.get_num_threads()
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        info["numba_threading_layer"] = f"(not started; {numba.config.THREADING_LAYER})"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
        info["blas_threads"] = blas or "(unknown)"
    else:
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        info["blas_threads"] = {p["filepath"].rsplit("/", 1)[-1]: p["num_threads"]
                                for p in pools} or "(no BLAS loaded)"
    return info


configure_threading()
