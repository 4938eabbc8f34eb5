"""A/B of two commits: graphc's per-step figures, old and new, in alternating rounds.

Each round runs one fresh subprocess per commit (their order alternating), each
importing graphc from a checkout of its commit, and measures:

- graph building: the lazy MLP step at batch 16 with kernels stubbed, minimum thread
  time per step (``graphc.bench.training.graph_building_seconds``, as ``make bench``);
- lazy MLP step (batch 128), jit MLP step (batch 128) and lazy LeNet-5 step (batch 64):
  median wall time of 30 steps after warm-up (kernels come from a shared, warm cache);
- jit per-call overhead (``graphc.bench.jit.overhead``);

or, with ``--warm-start``, the whole-process wall and CPU time of two MLP training steps
with a warm kernel cache (``graphc.bench.training.STEP_SCRIPT``); or, with
``--graph-building``, only the cost of building graphs: the minimum thread time per op
of a chain of 2,000 small elementwise ops built and never realized, and the graph
building figure above (issue 20 used it for Tensor's ``__dict__``).

    python scripts/ab_commits.py OLD NEW [--rounds 5] [--warm-start | --graph-building]

Prints each round and the medians; OLD and NEW are any git revisions (NEW may be
``WORKTREE``: the working tree as it is).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Imports graphc from the checkout given as argv[1] (the working directory).
IMPORT_CHECKOUT = r"""
import importlib.util, json, os, statistics, sys, time
root = sys.argv[1]


class CheckoutKernels:
    # graphc.kernels from the checkout's kernels/ (an editable install maps the main tree's)

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "graphc.kernels" and not name.startswith("graphc.kernels."):
            return None
        base = os.path.join(root, "kernels", *name.split(".")[2:])
        if os.path.isdir(base):
            return importlib.util.spec_from_file_location(
                name, os.path.join(base, "__init__.py"), submodule_search_locations=[base])
        return importlib.util.spec_from_file_location(name, base + ".py")


sys.meta_path.insert(0, CheckoutKernels)
import graphc
import graphc.kernels.cpu
assert graphc.__file__.startswith(root), graphc.__file__
assert graphc.kernels.cpu.__file__.startswith(root), graphc.kernels.cpu.__file__
"""

MEASURE = IMPORT_CHECKOUT + r"""
from graphc.bench import jit as jit_bench, training

def med(step, n=30, warm=5):
    for _ in range(warm):
        step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    return statistics.median(times)

out = {"graph_building_ms": training.graph_building_seconds(300) * 1e3}
x, y = training.data(128, (784,))
lazy = training.graphc_step(training.mlp(), x, y)
out["lazy_mlp_b128_ms"] = med(lambda: lazy().numpy()) * 1e3
step = jit_bench.jit_step(training.mlp())
xt, yt = graphc.tensor(x), graphc.tensor(y)
out["jit_mlp_b128_ms"] = med(lambda: step(xt, yt).numpy()) * 1e3
x, y = training.data(64, (1, 28, 28))
lenet = training.graphc_step(training.lenet(), x, y)
out["lazy_lenet_b64_ms"] = med(lambda: lenet().numpy(), n=20) * 1e3
out["jit_call_overhead_us"] = jit_bench.overhead()["graphc.function call"]
print("RESULT " + json.dumps(out))
"""


# Building graphs only: many small ops (4x4 tensors, Python scalars), never realized.
GRAPH_BUILDING = IMPORT_CHECKOUT + r"""
import numpy as np
import graphc.functional as F
from graphc.bench import training

x = graphc.tensor(np.ones((4, 4), np.float32))
w = graphc.tensor(np.ones((4, 4), np.float32))

def build(chains=10, length=50):
    kept = []
    for _ in range(chains):
        y = x
        for _ in range(length):
            y = F.relu(y * 1.5 + w) - 0.25
        kept.append(y)
    return kept

build()
best = float("inf")
for _ in range(40):
    t0 = time.thread_time(); build(); best = min(best, time.thread_time() - t0)
print("RESULT " + json.dumps({"small_ops_us_per_op": best / 2000 * 1e6,
                              "graph_building_ms": training.graph_building_seconds(300) * 1e3}))
"""


# Whole-process wall and CPU time of two MLP training steps with a warm kernel cache
# (graphc.bench.training.STEP_SCRIPT): the warm start a user waits for.
WARM_START = r"""
import json, os, subprocess, sys, time
root = sys.argv[1]
from pathlib import Path
script = Path(root, "graphc", "bench", "training.py").read_text()
q = chr(34) * 3  # a triple quote, which this string cannot hold
step = script.split("STEP_SCRIPT = " + q, 1)[1].split(q, 1)[0]
code = IMPORT + step
t0, c0 = time.perf_counter(), os.times()
subprocess.run([sys.executable, "-c", code, root], check=True, cwd=root)
c1 = os.times()
print("RESULT " + json.dumps({"warm_start_s": time.perf_counter() - t0,
                              "warm_start_cpu_s": c1.children_user + c1.children_system
                              - c0.children_user - c0.children_system}))
"""


def checkout(rev: str, into: Path) -> Path:
    if rev == "WORKTREE":
        return ROOT
    path = into / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), rev],
                   check=True)
    return path


def measure(root: Path, env: dict, code: str = MEASURE) -> dict:
    """The figures ``code`` prints (a ``RESULT {json}`` line), run on ``root``'s graphc."""
    proc = subprocess.run([sys.executable, "-c", code, str(root)], env=env,
                          capture_output=True, text=True, cwd=str(root))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"measurement in {root} failed:\n{proc.stdout}\n{proc.stderr}")


def alternate(roots: dict[str, Path], env: dict, rounds: int, code: str = MEASURE,
              digits: int = 3) -> dict[str, list[dict]]:
    """Each checkout's figures over ``rounds`` rounds, one fresh process per checkout per
    round, their order alternating (after one warm-up run each, for the kernel cache)."""
    for name in roots:
        measure(roots[name], env, code)
    results: dict[str, list[dict]] = {name: [] for name in roots}
    for r in range(rounds):
        for name in (list(roots) if r % 2 == 0 else list(roots)[::-1]):
            results[name].append(measure(roots[name], env, code))
        print(f"round {r + 1}: " + "; ".join(
            f"{n} " + ", ".join(f"{k} {v:.{digits}f}" for k, v in results[n][-1].items())
            for n in roots), flush=True)
    return results


def print_medians(results: dict[str, list[dict]], title: str, digits: int = 3) -> None:
    """A Markdown table of each figure's median, ratio and range, old against new."""
    print(f"\n{title}:")
    print("| figure | old | new | new/old | old range | new range |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for key in results["old"][0]:
        old = [r[key] for r in results["old"]]
        new = [r[key] for r in results["new"]]
        mo, mn = statistics.median(old), statistics.median(new)
        print(f"| {key} | {mo:.{digits}f} | {mn:.{digits}f} | {mn / mo:.3f} "
              f"| {min(old):.{digits}f}–{max(old):.{digits}f} "
              f"| {min(new):.{digits}f}–{max(new):.{digits}f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warm-start", action="store_true",
                        help="measure a warm MLP training-step process instead")
    parser.add_argument("--graph-building", action="store_true",
                        help="measure only the cost of building graphs")
    args = parser.parse_args()
    code = (WARM_START.replace("IMPORT + step", repr(IMPORT_CHECKOUT) + " + step")
            if args.warm_start else GRAPH_BUILDING if args.graph_building else MEASURE)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        roots = {"old": checkout(args.old, tmp_path), "new": checkout(args.new, tmp_path)}
        env = dict(os.environ, GRAPHC_PARALLEL_COMPILE="0")
        try:
            results = alternate(roots, env, args.rounds, code)
        finally:
            for root in roots.values():
                if root != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                    str(root)], check=False)
    print_medians(results, f"medians over {args.rounds} rounds ({args.old} → {args.new})")


if __name__ == "__main__":
    main()
