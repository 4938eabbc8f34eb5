"""The time-to-first-step benchmark (graphc.bench.first_step, issue 19): its child entry
point reports what the table and the breakdown need, and a warm process on the cold
one's caches compiles nothing and computes the same first loss, bit for bit.

One cold and one warm child of a two-layer MLP step (fresh processes, private caches
under tmp_path) serve every test here: about 10 s on two busy cores.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphc
from graphc.bench import first_step
from graphc.bench.first_step_report import describe
from graphc.passes import PIPELINE
from graphc.runtime import compiler


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("first_step")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(root / "graphc"),
               NUMBA_CACHE_DIR=str(root / "numba"), GRAPHC_BACKEND="compiled")
    cold = first_step.run_child("mlp", env, steps=2)
    warm = first_step.run_child("mlp", env, steps=2)
    return cold, warm


def test_the_child_reports_its_first_step_and_where_it_went(runs):
    cold, _ = runs
    assert cold["name"] == "mlp" and cold["framework"] == "graphc" and cold["batch"] == 4
    assert np.isfinite(cold["first_loss"])
    assert np.float32(cold["first_loss"]).tobytes().hex() == cold["first_loss_hex"]
    assert 0 < cold["seconds"]["first_step"] < cold["first_step_wall"] < cold["process_wall"]
    for phase in ("until_main", "import_numba", "imports", "build", "forward", "backward",
                  "optimizer_step", "item"):
        assert cold["seconds"][phase] >= 0, phase
    assert len(cold["steps"]) == 2 and cold["steady_step"] > 0
    b = cold["breakdown"]
    assert b["programs_compiled"] == 1 and b["compile_outputs_seconds"] > 0
    assert {"passes", "fuse", "schedule", "memory", "link", "render", "load"} <= set(
        b["stage_seconds"])
    assert set(PIPELINE) == set(b["pass_seconds"])
    kernels = b["kernels"]
    assert kernels["loop_steps"] > 0 and kernels["sources"] == len(kernels["keys"]) > 0
    assert kernels["sources"] >= kernels["up_to_floats"] >= kernels["up_to_literals"]
    # Every generated kernel compiled here (the suite's children compile on one process).
    numba = b["numba"]
    assert numba["generated"]["compiles"] == b["kernel_stats"]["numba_compiles"] > 0
    assert numba["compiles"] == len(b["numba_compiles"])
    for record in b["numba_compiles"]:
        parts = sum(record[p] for p in ("typing", "lowering", "llvm", "passes", "other"))
        assert parts == pytest.approx(record["seconds"], rel=1e-6)
        assert record["typing"] > 0 and record["llvm"] > 0
    assert numba["total"]["seconds"] <= b["clocks"]["realize"]["seconds"]


def test_a_warm_process_compiles_nothing_and_gives_the_same_first_loss(runs):
    cold, warm = runs
    assert warm["breakdown"]["kernel_stats"]["numba_compiles"] == 0
    assert warm["breakdown"]["numba"]["compiles"] == 0
    assert warm["breakdown"]["clocks"]["cache_load"]["calls"] > 0
    assert warm["first_loss_hex"] == cold["first_loss_hex"]
    assert warm["losses"] == cold["losses"]  # the later steps too


def test_the_table_and_the_breakdown_read_the_results(runs):
    cold, warm = runs
    result = {"name": "mlp", "label": first_step.LABELS["mlp"], "cold": cold, "warm": warm}
    table = first_step.table([result])
    assert table.splitlines()[2].startswith(f"| {first_step.LABELS['mlp']} | ")
    text = describe(result, [result])
    assert "cold first step" in text and "warm first step" in text
    assert f"{cold['breakdown']['kernels']['sources']} keys" in text  # shared with itself


def test_compiled_programs_record_their_stage_times(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    x = graphc.tensor(np.arange(5000, dtype=np.float32))
    compiled, _ = compiler.lookup_or_compile([((x * 2 + 1).sum())._node])
    stats = compiled.program.stats
    assert set(stats["pass_seconds"]) == set(PIPELINE)
    assert sum(stats["stage_seconds"][s] for s in ("prepare", "passes", "fuse", "schedule",
                                                   "memory", "link")) \
        <= stats["compile_seconds"]
    assert stats["stage_seconds"]["render"] + stats["stage_seconds"]["load"] \
        <= stats["stage_seconds"]["link"]
