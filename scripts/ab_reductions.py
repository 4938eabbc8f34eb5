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
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_commits import IMPORT_CHECKOUT, alternate, print_medians  # noqa: E402

MEASURE = IMPORT_CHECKOUT + r"""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="NUMBA_NUM_THREADS (0: unset)")
    args = parser.parse_args()
    roots = {"old": Path(args.old).resolve(), "new": Path(args.new).resolve()}
    env = dict(os.environ, GRAPHC_PARALLEL_COMPILE="0")
    if args.threads:
        env["NUMBA_NUM_THREADS"] = str(args.threads)
    results = alternate(roots, env, args.rounds, MEASURE, digits=2)
    print_medians(results, f"Program run, median ms over {args.rounds} rounds "
                  f"(NUMBA_NUM_THREADS={args.threads or 'unset'})", digits=2)


if __name__ == "__main__":
    main()
