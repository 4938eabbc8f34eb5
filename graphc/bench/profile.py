"""``graphc bench --profile``: where a graphc call's time goes, from its Program's steps
timed one by one: each loop kernel and library call (named as the compile progress
names them: the model part, the op), views and constants together, and graphc's own
Python (building the graph, the structural key, dispatch: the call's wall time minus
its steps'), each as its median over the calls.

>>> import graphc, numpy as np
>>> x = graphc.tensor(np.ones((64, 64), np.float32))
>>> rows = profile_calls(lambda: graphc.realize((x @ x).sum()), calls=3)
>>> round(sum(r["share"] for r in rows), 6), rows[0]["calls"] > 0
(1.0, True)
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

from graphc.runtime import program

PYTHON = "graphc Python (graph, key, dispatch)"
VIEWS = "views and constants"


@contextlib.contextmanager
def step_clock(record: Callable[[str, float], None]) -> Iterator[None]:
    """While installed, every Program step is timed alone and reported as
    ``record(name, seconds)``: a kernel step by its kind and model part (``"loop
    layer1.conv1: conv2d"``), views and constants as :data:`VIEWS`."""
    original = program.Program.run_steps

    def run_steps(prog, vals):
        labels = prog.kernel_steps
        for i, step in enumerate(prog.steps):
            t0 = time.perf_counter()
            step.run(vals)
            elapsed = time.perf_counter() - t0
            kind_part = labels.get(i)
            record(f"{kind_part[0]} {kind_part[1]}" if kind_part else (
                VIEWS if step.name.startswith(("view", "const")) else step.name), elapsed)

    program.Program.run_steps = run_steps
    try:
        yield
    finally:
        program.Program.run_steps = original


def profile_calls(call: Callable[[], object], calls: int = 20,
                  top: int = 12) -> list[dict]:
    """Run ``call`` ``calls`` times with every Program step timed; the ``top`` entries
    by time (the rest summed as ``"other steps"``), each ``{name, seconds (per call),
    share (of the call), calls (per call)}``, graphc's own Python among them.

    Each entry's seconds are its median over the calls (one call that another process
    interrupted moves a sum, not a median), and shares are of their total.
    """
    per_call: list[dict[str, float]] = []
    counts: dict[str, int] = {}

    def record(name: str, elapsed: float) -> None:
        here = per_call[-1]
        here[name] = here.get(name, 0.0) + elapsed
        counts[name] = counts.get(name, 0) + 1

    with step_clock(record):
        for _ in range(calls):
            per_call.append({})
            t0 = time.perf_counter()
            call()
            wall = time.perf_counter() - t0
            per_call[-1][PYTHON] = max(0.0, wall - sum(per_call[-1].values()))
    counts[PYTHON] = calls
    seconds = {name: statistics.median(c.get(name, 0.0) for c in per_call) for name in counts}
    ranked = sorted(seconds.items(), key=lambda kv: -kv[1])
    if len(ranked) > top:
        rest = ranked[top - 1:]
        ranked = ranked[:top - 1] + [("other steps", sum(v for _, v in rest))]
        counts["other steps"] = sum(counts[k] for k, _ in rest)
    total = sum(v for _, v in ranked)
    return [{"name": name, "seconds": value, "share": value / total if total else 0.0,
             "calls": counts[name] / calls} for name, value in ranked]
