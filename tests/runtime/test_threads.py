"""graphc.runtime.threads: threading defaults at import, in fresh interpreters (the
settings only matter before numba starts its threads, so each case needs its own process)."""

import ctypes.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

THREAD_VARS = ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")

PRANGE_KERNEL = """
import numpy as np
from numba import njit, prange

@njit(parallel=True)
def scale_rows(x, out):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = 2.0 * x[i, j] + 1.0
"""


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter with THREAD_VARS unset except those in ``env``;
    it prints one JSON object, returned here."""
    environ = {k: v for k, v in os.environ.items() if k not in THREAD_VARS} | env
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_sets_passive_wait_policy():
    result = run_python("""
        import json, os
        import graphc
        from graphc.runtime.threads import threading_info
        info = threading_info()
        print(json.dumps({"policy": os.environ.get("OMP_WAIT_POLICY"),
                          "info_policy": info["OMP_WAIT_POLICY"],
                          "layer": os.environ.get("NUMBA_THREADING_LAYER"),
                          "threads": info["numba_threads"]}))
    """)
    assert result["policy"] == result["info_policy"] == "passive"
    assert result["layer"] is None  # the OpenMP layer stays: passive is what fixes it
    assert result["threads"] >= 1


def test_explicit_user_settings_are_kept():
    result = run_python("""
        import json, os
        import graphc
        print(json.dumps({k: os.environ.get(k) for k in
                          ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}))
    """, OMP_WAIT_POLICY="active", NUMBA_THREADING_LAYER="omp")
    assert result == {"OMP_WAIT_POLICY": "active", "NUMBA_THREADING_LAYER": "omp"}


@pytest.mark.skipif(ctypes.util.find_library("gomp") is None, reason="no libgomp here")
def test_openmp_loaded_too_early_falls_back_to_workqueue():
    result = run_python(f"""
        import ctypes, ctypes.util, json
        ctypes.CDLL(ctypes.util.find_library("gomp"))  # as another library would
        import graphc
        import numba
        {PRANGE_KERNEL.strip().replace(chr(10), chr(10) + " " * 8)}
        scale_rows(np.ones((4, 3)), np.empty((4, 3)))
        print(json.dumps({{"layer": numba.threading_layer()}}))
    """)
    assert result["layer"] == "workqueue"


def test_late_import_warns_that_settings_cannot_apply():
    result = run_python(f"""
        import json, warnings
        {PRANGE_KERNEL.strip().replace(chr(10), chr(10) + " " * 8)}
        scale_rows(np.ones((4, 3)), np.empty((4, 3)))  # numba starts its threads
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import graphc
        print(json.dumps([str(w.message) for w in caught if w.category is RuntimeWarning]))
    """)
    assert any("OMP_WAIT_POLICY" in message for message in result)


def test_prange_kernels_interleaved_with_blas_compute_correctly():
    result = run_python(f"""
        import json
        import graphc
        {PRANGE_KERNEL.strip().replace(chr(10), chr(10) + " " * 8)}
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 48))
        w = rng.standard_normal((48, 48)) / 7
        out = np.empty_like(x)
        expected = x.copy()
        for _ in range(20):  # alternate OpenBLAS and numba's thread pool
            x = np.dot(x, w)
            scale_rows(x, out)
            x = out.copy()
            expected = 2.0 * (expected @ w) + 1.0
        print(json.dumps({{"max_error": float(np.max(np.abs(x - expected))),
                           "scale": float(np.max(np.abs(expected)))}}))
    """)
    assert result["max_error"] <= 1e-12 * max(1.0, result["scale"])
