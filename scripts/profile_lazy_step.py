"""Count the Python work of one lazy MLP training step (batch 16), without its kernels.

Runs the step of ``graphc.bench.training`` with ``Program.run`` replaced by a function
returning the cached outputs (as ``graph_building_seconds`` does) under cProfile, and
prints, per step, the Python function calls, the nodes built (``make_node`` calls) and
the graph walks (``topo_order`` calls). Counts, unlike times, do not depend on how busy
the machine is: compare them between two trees.

    python scripts/profile_lazy_step.py [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

import numpy as np

from graphc.bench import training
from graphc.runtime import program

STEPS = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest functions")
    args = parser.parse_args()
    x, y = training.data(16, (784,))
    step = training.graphc_step(training.mlp(), x, y)
    for _ in range(3):
        step()
    original = program.Program.run
    outputs: dict[int, list] = {}

    def replay(prog, values):
        if id(prog) not in outputs:
            outputs[id(prog)] = [np.array(o) for o in original(prog, values)]
        return list(outputs[id(prog)])

    program.Program.run = replay
    try:
        for _ in range(20):
            step()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(STEPS):
            step()
        profile.disable()
    finally:
        program.Program.run = original
    stats = pstats.Stats(profile)
    calls = {f[2]: v[1] for f, v in stats.stats.items()}  # function name -> calls
    print(f"per lazy MLP step (batch 16, kernels stubbed, {STEPS} steps): "
          f"{stats.total_calls / STEPS:.0f} Python function calls, "
          f"{calls.get('make_node', 0) / STEPS:.0f} nodes built, "
          f"{calls.get('topo_order', 0) / STEPS:.0f} graph walks")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
