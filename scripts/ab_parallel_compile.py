"""Cold compile of the MLP training step, whole process, with and without the helper
process (graphc/codegen/precompile.py): fresh processes alternating
``GRAPHC_PARALLEL_COMPILE=0`` and ``1``, each with empty ``GRAPHC_CACHE_DIR`` and
``NUMBA_CACHE_DIR``; prints the median and every run.

    .venv/bin/python scripts/ab_parallel_compile.py [rounds, default 6]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from graphc.bench.training import STEP_SCRIPT


def cold_seconds(parallel: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, GRAPHC_CACHE_DIR=f"{d}/graphc", NUMBA_CACHE_DIR=f"{d}/numba",
                   GRAPHC_PARALLEL_COMPILE=parallel)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", STEP_SCRIPT], env=env, check=True)
        return time.perf_counter() - t0


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    runs: dict[str, list[float]] = {"0": [], "1": []}
    for _ in range(rounds):
        for flag in runs:
            runs[flag].append(cold_seconds(flag))
    for flag, seconds in runs.items():
        print(f"GRAPHC_PARALLEL_COMPILE={flag}: median {statistics.median(seconds):.2f} s, "
              f"runs {' '.join(f'{s:.2f}' for s in seconds)}")


if __name__ == "__main__":
    main()
