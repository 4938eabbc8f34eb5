"""Deterministic results (docs/architecture.md, "Determinism"): the same graph on the same
inputs gives the same bits on its first and later realizations, and a state update
computed in place gives the bits of the same update into a fresh buffer."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.optimizer import SGD
from graphc.runtime import compiler
from tests.jit.training import X, Y, address
from tests.runtime.compiled import run_reference

rng = np.random.default_rng(14)


@pytest.fixture(autouse=True)
def compiled_backend(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    compiler.clear_programs()  # every graph below is seen here first


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def realizations(build, arrays, times=3):
    """``build``'s values on fresh Tensors over the same ``arrays``, realized ``times``
    times: the first realization sees the graph first, the others hit its Program."""
    return [build(*[graphc.tensor(a) for a in arrays]).numpy() for _ in range(times)]


def shared_weight_convs(x1, x2, w):
    return F.relu(F.conv2d(x1, w, padding=1)) + F.conv2d(x2, w, stride=2, padding=1)


@pytest.mark.parametrize("build, arrays", [
    (shared_weight_convs, [rng.standard_normal(s).astype(np.float32)
                           for s in ((2, 3, 8, 8), (2, 3, 16, 16), (4, 3, 3, 3))]),
    (lambda x: F.softmax(x, axis=1), [rng.standard_normal((16, 10)).astype(np.float32)]),
], ids=["conv2d with a shared weight", "softmax"])
def test_first_and_later_realizations_are_bit_identical(build, arrays):
    first, *later = realizations(build, arrays)
    assert all(same_bits(first, v) for v in later)
    want = run_reference(build(*[graphc.tensor(a) for a in arrays]))[0]
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-6)  # and right


def test_exact_tiny_graphs_are_still_interpreted_first_and_give_the_same_bits(monkeypatch):
    """The first-sighting tier stays for graphs of exact ops (graphc/ops/exact.py); the
    compiled realizations after it agree to the bit, (x * s) * t unreassociated too.
    (No interpreting budget past the first sighting, so the second one compiles.)"""
    monkeypatch.setattr(compiler, "INTERPRET_BUDGET", 0)
    a = rng.standard_normal(300).astype(np.float32)
    b = rng.standard_normal(300).astype(np.float32)

    def build(x, y):
        return F.where(x > y, (x * 0.1) * 0.3, F.maximum(y, -x) / (x - y))

    before = dict(compiler.stats)
    first, *later = realizations(build, [a, b])
    assert compiler.stats["interpreted"] == before["interpreted"] + 1
    assert compiler.stats["programs_compiled"] == before["programs_compiled"] + 1
    assert all(same_bits(first, v) for v in later)
    before = dict(compiler.stats)
    realizations(lambda x: F.exp(x) + 1, [a], times=1)  # not exact: compiled at once
    assert compiler.stats["interpreted"] == before["interpreted"]
    assert compiler.stats["programs_compiled"] == before["programs_compiled"] + 1


def twin(momentum=0.9):
    """A tiny model, its SGD-momentum optimizer and its training step, built from seed 0
    (two calls give two models with the same values)."""
    graphc.random.seed(0)
    net = M.Sequential(M.Linear(5, 16), M.ReLU(), M.Linear(16, 3))
    gm = GradManager().attach(net.parameters())
    opt = SGD(net.parameters(), lr=0.1, momentum=momentum)

    def step():
        with gm:
            loss = F.cross_entropy(net(graphc.tensor(X)), graphc.tensor(Y))
            gm.backward(loss)
        opt.step().clear_grad()
        return loss.numpy()

    def state():
        params = list(net.parameters())
        return [p.numpy() for p in params] + [opt.state[p]["momentum_buffer"].numpy()
                                              for p in params if p in opt.state]

    return step, state, net


def assert_same_state(a, b):
    sa, sb = a(), b()
    assert len(sa) == len(sb) == 8  # 4 parameters, 4 momentum buffers
    assert all(same_bits(x, y) for x, y in zip(sa, sb))


def test_sgd_momentum_steps_are_bit_identical_at_first_and_later_sightings():
    """Step 1 (no momentum buffer yet) and step 2 (one) are two graphs: model A's step
    sees each first, model B's, from the same state, hits its Program."""
    step_a, state_a, _ = twin()
    step_b, state_b, _ = twin()
    for _ in range(3):
        loss_a = step_a()
        loss_b = step_b()
        assert same_bits(loss_a, loss_b)
        assert_same_state(state_a, state_b)


def test_sgd_momentum_update_in_place_equals_the_copying_update(monkeypatch):
    """The same update from the same state, once with donation refused (every new value
    in a fresh buffer: the kernels' copying variants) and once donated (in place)."""
    step_a, state_a, net_a = twin()
    step_b, state_b, net_b = twin()
    real = compiler.donations
    for n in range(4):
        monkeypatch.setattr(compiler, "donations", lambda *args: [])
        before_a = address(net_a[0].weight)
        step_a()
        assert address(net_a[0].weight) != before_a  # copied
        monkeypatch.setattr(compiler, "donations", real)
        before_b = address(net_b[0].weight)
        step_b()
        if n:  # from step 2 the weight and its momentum buffer are updated in place
            assert address(net_b[0].weight) == before_b
        assert_same_state(state_a, state_b)
