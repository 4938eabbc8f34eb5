"""Runs every ``tests/**/cudasim_*.py`` module under numba's CUDA simulator, in two pytest
processes of their own (``NUMBA_ENABLE_CUDASIM`` must be set before numba.cuda is first
imported, and the rest of the suite runs without it). Skipped, with the reason, where
numba-cuda (the ``cuda`` extra) is not installed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET_SECONDS = 240  # issue 17: the simulator run in at most 4 minutes
# Two processes, which the suite's two workers run side by side: the kernels alone
# (codegen cases, library kernels) and Programs on gpu0 (the runtime's cases).
GROUPS = {"kernels": ("tests/codegen", "tests/kernels"), "programs": ("tests/runtime",)}


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                    reason="numba-cuda is not installed (the cuda extra): no CUDA simulator")
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_cuda_kernels_under_the_simulator(group):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["GRAPHC_GPU"] = "1"  # gpu0 is the simulator; tensors made without a device
    env["GRAPHC_DEFAULT_DEVICE"] = "cpux"  # stay on the CPU (the cases' inputs)
    cases = sorted(str(p.relative_to(ROOT)) for folder in GROUPS[group]
                   for p in (ROOT / folder).rglob("cudasim_*.py"))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist",
         *cases], cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUDGET_SECONDS)
    seconds = time.perf_counter() - t0
    summary = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"simulator run ({group}): {summary[0]} in {seconds:.1f} s")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in summary[0], summary
    # The one skip allowed: a test the simulator cannot run (it runs on a GPU).
    skips = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("kernel context is process-global" in line for line in skips), skips
