"""Which tests run kernels on a GPU: modules named ``cudasim_*.py`` run under numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``: tests/codegen/test_cuda_sim.py starts them in a
process of their own) or on a real GPU (``GRAPHC_GPU_TESTS=1``: scripts/gpu_check.py),
and skip, saying so, anywhere else."""

from __future__ import annotations

import os

import pytest


def require_gpu_or_simulator() -> None:
    """Skip the calling module unless the simulator or a real GPU is asked for."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" \
            and os.environ.get("GRAPHC_GPU_TESTS") != "1":
        pytest.skip("GPU cases: run with NUMBA_ENABLE_CUDASIM=1 (tests/codegen/"
                    "test_cuda_sim.py does) or on a GPU with GRAPHC_GPU_TESTS=1 "
                    "(scripts/gpu_check.py does)", allow_module_level=True)
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (the cuda extra)")
