"""A/B of two checkouts: the fused reduction kernels' Program run times, alternating rounds.

Each round runs one fresh subprocess per checkout (their order alternating), importing
graphc from that checkout, and times the cached Program's run (median of 15 calls) of:

- ``x.sum()`` over 4M float32 (a whole reduction, under ``prange``),
- ``(x * y).sum()`` over 16M float32 (the kernel of ``python -m graphc.bench.kernels``),
- ``F.softmax(m, axis=1)`` and ``F.layer_norm`` over 4096x1024 float32 (row reductions),
- ``F.gelu(x * w + b)`` over 16M float32 (a map kernel, no reduction).

    python scripts/ab_reductions.py OLD_ROOT NEW_ROOT [--rounds 7] [--threads N]

OLD_ROOT and NEW_ROOT are source trees (``git archive REV | tar -x -C DIR`` makes one
without touching the repository's worktrees). Prints each round and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

MEASURE = r"""
import importlib.util, json, sys
root = sys.argv[1]
sys.path.insert(0, root)
spec = importlib.util.spec_from_file_location("graphc.kernels", f"{root}/kernels/__init__.py",
                                              submodule_search_locations=[f"{root}/kernels"])
import graphc
module = importlib.util.module_from_spec(spec)
sys.modules["graphc.kernels"] = module
spec.loader.exec_module(module)
assert graphc.__file__.startswith(root), graphc.__file__
import numpy as np
import graphc.functional as F
from graphc.bench.harness import median_seconds
from graphc.ir import buffer_node
from graphc.runtime.compiler import _runtime_value, lookup_or_compile
from graphc.tensor import Tensor

def wrap(a):
    a.flags.writeable = False
    return Tensor._wrap(buffer_node(a, "xpux"))

def run_ms(build, arrays):
    out = build(*[wrap(a) for a in arrays])
    compiled, args = lookup_or_compile([out._node])
    values = [_runtime_value(a) for a in args]
    return median_seconds(lambda: compiled.program.run(values)) * 1e3

rng = np.random.default_rng(0)
n = 16 * 1024 * 1024
x, y = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
wv, bv = np.full(n, 0.9, np.float32), np.full(n, 0.1, np.float32)
m = rng.standard_normal((4096, 1024)).astype(np.float32)
g, b = (rng.standard_normal(1024).astype(np.float32) for _ in range(2))
out = {
    "sum 4M": run_ms(lambda X: X.sum(), [x[: 4 * 1024 * 1024].copy()]),
    "sum(x*y) 16M": run_ms(lambda X, Y: (X * Y).sum(), [x, y]),
    "softmax 4096x1024": run_ms(lambda X: F.softmax(X, axis=1), [m]),
    "layer_norm 4096x1024": run_ms(lambda X, G, B: F.layer_norm(X, (1024,), True, G, B), [m, g, b]),
    "gelu(x*w+b) 16M": run_ms(lambda X, W, B: F.gelu(X * W + B), [x, wv, bv]),
}
print("RESULT " + json.dumps(out))
"""


def measure(root: str, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEASURE, root], env=env,
                          capture_output=True, text=True, cwd=root)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"measurement in {root} failed:\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="NUMBA_NUM_THREADS (0: unset)")
    args = parser.parse_args()
    roots = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    env = dict(os.environ, GRAPHC_PARALLEL_COMPILE="0")
    if args.threads:
        env["NUMBA_NUM_THREADS"] = str(args.threads)
    for name in ("old", "new"):  # warm the kernel cache for both
        measure(roots[name], env)
    results: dict[str, list[dict]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            results[name].append(measure(roots[name], env))
        print(f"round {r + 1}: " + "; ".join(
            f"{n} " + ", ".join(f"{k} {v:.2f}" for k, v in results[n][-1].items())
            for n in ("old", "new")), flush=True)
    print(f"\nProgram run, median ms over {args.rounds} rounds "
          f"(NUMBA_NUM_THREADS={args.threads or 'unset'}):")
    print("| kernel | old | new | new/old | old range | new range |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for key in results["old"][0]:
        old = [r[key] for r in results["old"]]
        new = [r[key] for r in results["new"]]
        mo, mn = statistics.median(old), statistics.median(new)
        print(f"| {key} | {mo:.2f} | {mn:.2f} | {mn / mo:.3f} | {min(old):.2f}–{max(old):.2f} "
              f"| {min(new):.2f}–{max(new):.2f} |")


if __name__ == "__main__":
    main()
