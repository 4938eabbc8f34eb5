"""Reductions that keep a trailing axis, before and after array accumulators, in one run.

``.venv/bin/python scripts/bench_reductions.py`` times each case's compiled Program
(medians, interleaved rounds so both forms see the same machine load) with
``graphc.codegen.cpu_schedule.ARRAY_ACCUMULATORS`` off (scalar accumulators per row, the form
before CODEGEN_VERSION 4) and on (per-column accumulators / lanes), and NumPy; then a
whole MLP training step (784-512-512-10, batch 128, SGD) in alternating blocks.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import graphc
from graphc.bench import training
from graphc.codegen import cpu_schedule
from graphc.runtime import compiler, program
from graphc.runtime.compiler import _runtime_value, clear_programs, lookup_or_compile

ROUNDS, REPEAT = 15, 20


def bias_step(g, h, b):
    """The MLP's bias gradient fused with ReLU backward and the SGD update."""
    masked = g * (h > 0)
    return b - 0.01 * masked.sum(axis=0), masked


def channel_sum(x):
    """BatchNorm's per-channel sums over (0, 2, 3)."""
    return (x.sum(axis=(0, 2, 3)),)


def channel_sums(x):
    """BatchNorm's mean and mean-square statistics (one kernel, two reductions)."""
    return x.mean(axis=(0, 2, 3)), (x * x).mean(axis=(0, 2, 3))


def compiled_run(build, arrays, array_accumulators: bool):
    cpu_schedule.ARRAY_ACCUMULATORS = array_accumulators
    clear_programs()
    try:
        outs = build(*[graphc.tensor(a) for a in arrays])
        compiled, args = lookup_or_compile([o._node for o in outs])
    finally:
        cpu_schedule.ARRAY_ACCUMULATORS = True
    values = [_runtime_value(a) for a in args]
    return lambda: compiled.program.run(values)


def main() -> None:
    rng = np.random.default_rng(0)
    g, h = (rng.standard_normal((128, 512)).astype(np.float32) for _ in range(2))
    b = rng.standard_normal(512).astype(np.float32)
    x = rng.standard_normal((64, 32, 28, 28)).astype(np.float32)
    cases = [
        ("bias step 128x512 (sum over 0)", bias_step, [g, h, b],
         lambda: (b - np.float32(0.01) * (m := g * (h > 0)).sum(axis=0), m)),
        ("channel sum 64x32x28x28 (0,2,3)", channel_sum, [x],
         lambda: x.sum(axis=(0, 2, 3))),
        ("channel mean, mean of squares", channel_sums, [x],
         lambda: (x.mean(axis=(0, 2, 3)), (x * x).mean(axis=(0, 2, 3)))),
    ]
    print(f"{'case':34} {'before ms':>10} {'after ms':>10} {'NumPy ms':>10}")
    for name, build, arrays, numpy_fn in cases:
        fns = {"before": compiled_run(build, arrays, False),
               "after": compiled_run(build, arrays, True),
               "numpy": numpy_fn}
        times: dict[str, list[float]] = {k: [] for k in fns}
        for fn in fns.values():
            fn()
        for _ in range(ROUNDS):
            for key, fn in fns.items():
                t0 = time.perf_counter()
                for _ in range(REPEAT):
                    fn()
                times[key].append((time.perf_counter() - t0) / REPEAT)
        ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        print(f"{name:34} {ms['before']:10.3f} {ms['after']:10.3f} {ms['numpy']:10.3f}")
    mlp_steps()


def mlp_steps() -> None:
    """Per MLP step, the time inside its generated reduction kernels (the bias steps: "sum
    over 0") and the whole step, medians with each form, in alternating blocks (the
    lazy path keeps one Program per structure, so the forms cannot alternate per step).
    Library calls (matmul) dominate the whole step and vary most with machine load."""
    x, y = training.data(128, (784,))
    reductions: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, list[float]] = {False: [], True: []}
    original = program.Program.run_steps
    clock = [0.0]

    def timed_steps(prog, vals):
        for step in prog.steps:
            t0 = time.perf_counter()
            step.run(vals)
            if step.name in reducing:
                clock[0] += time.perf_counter() - t0

    for _ in range(3):
        for flag in (False, True):
            cpu_schedule.ARRAY_ACCUMULATORS = flag
            clear_programs()
            try:
                step = training.graphc_step(training.mlp(), x, y)
                for _ in range(3):  # compile, then warm
                    step()
                [compiled] = compiler._programs.values()
                reducing = {k.name for k in compiled.fused.kernels
                            if k.kind == "loop" and k.reduce_axes == (0,) and k.domain[-1] > 1}
                program.Program.run_steps = timed_steps
                for _ in range(REPEAT):
                    clock[0] = 0.0
                    t0 = time.perf_counter()
                    step()
                    steps[flag].append(time.perf_counter() - t0)
                    reductions[flag].append(clock[0])
            finally:
                program.Program.run_steps = original
                cpu_schedule.ARRAY_ACCUMULATORS = True
    for label, times in (("MLP step: its 'sum over 0' kernels", reductions),
                         ("MLP step 784-512-512-10 b128, whole", steps)):
        before, after = (statistics.median(times[f]) * 1e3 for f in (False, True))
        print(f"{label:34} {before:10.3f} {after:10.3f}")


if __name__ == "__main__":
    main()
