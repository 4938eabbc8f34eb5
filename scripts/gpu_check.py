"""The GPU check: one run that does everything a GPU machine is for (issue 17).

On a GPU machine as the project's are (Python 3.12 with numba, numba-cuda, CuPy and
PyTorch installed, no package registry), from the repository root:

    python3 scripts/gpu_check.py            # install, versions, GPU tests, benchmark

1. installs graphc in place (``pip install --no-deps --no-build-isolation -e .``);
2. prints the versions, the driver and the GPU;
3. runs the GPU test subset on the real device (the simulator's test modules, which run
   on a GPU when ``GRAPHC_GPU_TESTS=1``), at most 3 minutes;
4. checks the CUDA kernel cache on the device (scripts/gpu_check_cuda_cache.py);
5. runs the GPU benchmark (graphc/bench/gpu.py), at most 3 minutes, and prints the
   figures with their targets.

``--dry-run`` does steps 2, 3 and 5 under numba's CUDA simulator with tiny sizes and a short
test subset (CI runs it: tests/test_gpu_check.py); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_TESTS = ["tests/runtime/cudasim_runtime.py", "tests/codegen/cudasim_cases.py",
             "tests/kernels/cudasim_matmul.py"]
TEST_SECONDS = 180
BENCH_SECONDS = 180

VERSIONS = r"""
import importlib.metadata as md, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("graphc", "numpy", "numba", "numba-cuda", "llvmlite", "cupy-cuda13x", "torch",
             "cuda-toolkit"):
    try:
        print(f"{name:14s}", md.version(name))
    except md.PackageNotFoundError:
        print(f"{name:14s}", "not installed")
from graphc.backends.cuda_device import gpu_status
status = gpu_status()
print("GPU usable:", status.usable, "-", status.reason)
if status.usable and not status.simulated:
    from numba import cuda
    from numba.cuda.cudadrv import nvvm
    print("driver CUDA version:", cuda.cudadrv.driver.driver.get_version())
    print("NVVM version:", nvvm.NVVM().get_version())
    from graphc.backends.cuda_memory import install_pool
    print("device memory through:", install_pool())
"""

BENCH = r"""
import sys
from graphc.bench.gpu import report, run
print(report(run(dry_run=sys.argv[1] == "1")))
"""


def step(title: str, command: list[str], env: dict, timeout: int) -> bool:
    """Run one step, print its output and time; whether it succeeded."""
    print(f"\n== {title}", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=ROOT, env=env, timeout=timeout)
        ok = proc.returncode == 0
    except subprocess.TimeoutExpired:
        print(f"(stopped after {timeout} s)")
        ok = False
    print(f"== {title}: {'ok' if ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s",
          flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="under numba's CUDA simulator, tiny sizes (CI)")
    parser.add_argument("--no-install", action="store_true", help="skip the pip install")
    args = parser.parse_args(argv)
    # gpu0 is the GPU (or the simulator); tensors made without a device stay on the CPU,
    # as the GPU test modules expect (they name gpu0 where they mean it).
    env = dict(os.environ, PYTHONUNBUFFERED="1", GRAPHC_GPU="1",
               GRAPHC_DEFAULT_DEVICE="cpux")
    if args.dry_run:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    else:
        env["GRAPHC_GPU_TESTS"] = "1"
    env.setdefault("GRAPHC_CACHE_DIR", str(ROOT / ".gpu-check-cache"))
    ok = True
    if not (args.dry_run or args.no_install):
        ok &= step("install", [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                               "--no-build-isolation", "-e", "."], env, 300)
    ok &= step("versions", [sys.executable, "-c", VERSIONS], env, 120)
    tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
             "-rs", "-s", *GPU_TESTS]
    if args.dry_run:
        tests += ["-k", "repeated_runs_give_the_same_bits and not kernels"]
    ok &= step("GPU tests", tests, env, TEST_SECONDS)
    if not args.dry_run:
        ok &= step("kernel cache", [sys.executable, "scripts/gpu_check_cuda_cache.py"], env,
                   180)
    ok &= step("benchmark", [sys.executable, "-c", BENCH, "1" if args.dry_run else "0"], env,
               BENCH_SECONDS)
    print("\nall steps ok" if ok else "\nSOME STEPS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
