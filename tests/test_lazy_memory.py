"""Memory stays flat over long training loops: realized Tensors are released to leaves
and the graphs behind them freed (docs/architecture.md, "Memory is released by
rebinding"). Each loop runs 10,000 steps of a small model on the compiled backend and
compares the live graph nodes, the realized-value table and the process's resident
memory after 1,000 steps and after 10,000."""

from __future__ import annotations

import gc
import io
import os
import resource

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.ir import Node, values
from graphc.optimizer import SGD

STEPS, CHECKPOINT = 10_000, 1_000


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _live_nodes() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Node)


def _loop(step, steps=STEPS):
    marks = {}
    for k in range(1, steps + 1):
        step()
        if k in (CHECKPOINT, steps):
            marks[k] = (_live_nodes(), values.count(), _resident_mb())
    return marks[CHECKPOINT], marks[steps]


def _model():
    graphc.random.seed(0)
    model = M.Sequential(M.Linear(8, 16), M.ReLU(), M.Linear(16, 4))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 8).astype(np.int32)
    return model, GradManager().attach(model.parameters()), SGD(model.parameters(), lr=0.01), x, y


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def _assert_flat(early, late):
    (nodes0, values0, rss0), (nodes1, values1, rss1) = early, late
    assert nodes1 <= nodes0 + 8, (early, late)  # no graph kept per step
    assert values1 <= values0 + 8, (early, late)
    assert rss1 - rss0 < 24, (early, late)  # MiB; 9,000 steps of graphs would be far more


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
def test_printing_the_loss_inside_the_recording_keeps_memory_flat(compiled):
    model, gm, opt, x, y = _model()
    out = io.StringIO()

    def step():
        with gm:
            loss = F.cross_entropy(model(graphc.tensor(x)), graphc.tensor(y))
            print(loss, file=out)  # realizes the loss while the graph is kept
            gm.backward(loss)
        opt.step().clear_grad()

    _assert_flat(*_loop(step))
    assert out.getvalue().count("Tensor(") == STEPS


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
def test_a_list_of_loss_items_keeps_memory_flat(compiled):
    model, gm, opt, x, y = _model()
    losses = []

    def step():
        with gm:
            loss = F.cross_entropy(model(graphc.tensor(x)), graphc.tensor(y))
            gm.backward(loss)
        opt.step().clear_grad()
        losses.append(loss.item())

    _assert_flat(*_loop(step))
    assert len(losses) == STEPS and losses[-1] < losses[0]
