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

from graphc.bench import training

STEPS = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest functions")
    args = parser.parse_args()
    step = training.stubbed_mlp_step()
    with training.kernels_stubbed():
        for _ in range(20):
            step()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(STEPS):
            step()
        profile.disable()
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
