"""scripts/gpu_check.py --dry-run: the GPU check script end to end under numba's CUDA
simulator (versions, one GPU test, the benchmark at tiny sizes), so the script a GPU
machine runs once is known to work before a GPU is at hand. Its own timed step (slow)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                    reason="numba-cuda is not installed (the cuda extra): no CUDA simulator")
def test_the_gpu_check_script_runs_under_the_simulator():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "scripts/gpu_check.py", "--dry-run"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=400)
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:] + proc.stderr[-3000:]
    assert "GPU usable: True - numba's CUDA simulator" in out
    for figure in ("gelu / copy bandwidth", "softmax / copy bandwidth", "matmul TFLOP/s",
                   "MLP step ms", "all steps ok"):
        assert figure in out, out[-3000:]
