"""Whether this machine can compile CUDA kernels to PTX (numba-cuda and NVVM, the
``cuda`` extra; no GPU needed), for the PTX tests' skip reasons."""

from __future__ import annotations

import functools
import os


@functools.cache
def ptx_unavailable() -> str | None:
    """Why kernels cannot be compiled to PTX here (None if they can)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "the CUDA simulator is on (it compiles nothing)"
    try:
        from numba import cuda, types
    except Exception as err:  # numba-cuda not installed
        return f"numba-cuda is not installed (the cuda extra): {err}"

    def probe(a):
        a[0] = 1.0

    try:
        cuda.compile_ptx(probe, types.void(types.float32[:]), cc=(9, 0))
    except Exception as err:
        return f"NVVM is not available (the cuda extra's cuda-toolkit[nvvm]): {err}"
    return None
