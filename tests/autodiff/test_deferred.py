"""Deferred gradients: ``GradManager.backward`` builds ``grad_of`` markers that the
``lower`` pass (or, outside the compiler, ``lower_in_place``) turns into the VJP graph.

Every expected value is the eager VJP of the same graph (``graphc.grad``, which never
defers) or a closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import Function, GradManager
from graphc.ir import Graph
from graphc.passes import run_pipeline
from graphc.runtime import compiler

RNG = np.random.default_rng(0)


@pytest.fixture(params=["interp", "compiled"])
def backend(request, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", request.param)
    return request.param


def _model_and_batch(seed: int = 0):
    graphc.random.seed(seed)
    model = M.Sequential(M.Linear(5, 7), M.ReLU(), M.Linear(7, 3))
    rng = np.random.default_rng(seed)
    x = graphc.tensor(rng.standard_normal((6, 5)).astype(np.float32))
    y = graphc.tensor(rng.integers(0, 3, 6).astype(np.int32))
    return model, x, y


def _eager(model, x, y) -> list[np.ndarray]:
    loss = F.cross_entropy(model(x), y)
    return [g.numpy() for g in graphc.grad(loss, list(model.parameters()))]


def test_backward_defers_one_marker_per_parameter_with_the_eager_values(backend):
    model, x, y = _model_and_batch()
    want = _eager(model, x, y)
    gm = GradManager().attach(model.parameters())
    with gm:
        loss = F.cross_entropy(model(x), y)
        gm.backward(loss)
    grads = [p.grad for p in model.parameters()]
    assert [g._node.op for g in grads] == ["grad_of"] * 4
    for got, w in zip(grads, want):
        np.testing.assert_allclose(got.numpy(), w, rtol=1e-5, atol=1e-6)


def test_the_pipeline_lowers_markers_to_the_vjp_graph():
    model, x, y = _model_and_batch()
    gm = GradManager().attach(model.parameters())
    with gm:
        gm.backward(F.cross_entropy(model(x), y))
    outputs = tuple(p.grad._node for p in model.parameters())
    lowered = run_pipeline(Graph(outputs), ("lower",))
    ops = {n.op for n in lowered.nodes()}
    assert "grad_of" not in ops and {"matmul", "where"} <= ops
    assert all(n.meta.from_autodiff for n in lowered.outputs)
    again = run_pipeline(Graph(outputs), ("lower",))  # the same nodes while markers live
    assert again.outputs == lowered.outputs


def test_realizing_the_loss_before_the_step_keeps_the_gradients_right(backend):
    """``loss.item()`` between backward and step computes part of the forward graph
    without the markers: they are lowered first, so the step still sees the graph."""
    model, x, y = _model_and_batch(1)
    want = _eager(model, x, y)
    gm = GradManager().attach(model.parameters())
    with gm:
        loss = F.cross_entropy(model(x), y)
        hidden = model[1](model[0](x))  # hash-consed: the same nodes as the loss's
        gm.backward(loss)
    expected_loss = F.cross_entropy(model(x), y).item()
    assert loss.item() == pytest.approx(expected_loss, rel=1e-6)
    hidden.numpy()
    for p, w in zip(model.parameters(), want):
        np.testing.assert_allclose(p.grad.numpy(), w, rtol=1e-5, atol=1e-6)


def test_a_training_loop_with_deferred_gradients_matches_eager_sgd():
    """Five SGD steps with ``loss.item()`` before each step, against SGD on eager
    gradients from an identical model."""
    model, x, y = _model_and_batch(2)
    twin, _, _ = _model_and_batch(2)
    gm = GradManager().attach(model.parameters())
    opt = graphc.optimizer.SGD(model.parameters(), lr=0.1, momentum=0.9)
    velocity = [np.zeros(p.shape, np.float32) for p in twin.parameters()]
    for step in range(5):
        with gm:
            loss = F.cross_entropy(model(x), y)
            gm.backward(loss)
        if step % 2:
            loss.item()
        opt.step().clear_grad()
        grads = _eager(twin, x, y)
        for p, v, g in zip(twin.parameters(), velocity, grads):
            v *= 0.9
            v += g
            p._node = graphc.tensor(p.numpy() - 0.1 * v)._node
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-5)


def test_a_step_compiles_once_with_markers_in_its_key(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    model, x, y = _model_and_batch(3)
    gm = GradManager().attach(model.parameters())
    opt = graphc.optimizer.SGD(model.parameters(), lr=0.1)
    compiled = []
    for _ in range(4):
        with gm:
            gm.backward(F.cross_entropy(model(x), y))
        opt.step().clear_grad()
        compiled.append(compiler.stats["programs_compiled"])
    assert compiled[1] == compiled[2] == compiled[3]


def test_unconnected_parameters_get_no_marker():
    a = graphc.Parameter([1.0, 2.0])
    b = graphc.Parameter([3.0])
    gm = GradManager().attach([a, b])
    with gm:
        gm.backward((a * a).sum())
    assert a.grad._node.op == "grad_of" and b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 4.0])


def test_what_cannot_be_deferred_is_built_now():
    """A dependency made before recording, a custom Function, or another recording
    manager: the backward is built at once, with MegEngine's semantics."""
    w = graphc.Parameter([1.0, 2.0])
    gm = GradManager().attach(w)
    h = w * 3  # before recording: no gradient flows through it
    with gm:
        gm.backward((h * w).sum())
    assert w.grad._node.op != "grad_of"
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 6.0])

    class Double(Function):
        def forward(self, x):
            return x * 2

        def backward(self, dy):
            return dy * 2

    w.grad = None
    with gm:
        gm.backward(Double()(w).sum())
    assert w.grad._node.op != "grad_of"
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0])


def test_second_order_through_a_deferred_gradient(backend):
    """A gradient penalty: the outer manager differentiates ``sum(grad**2)``, where grad
    is the inner manager's (deferred) gradient of ``sum(w**3)``: d/dw sum((3w²)²) = 36w³."""
    for _ in range(2):  # the second time, the same structure (no replay of stale recipes)
        w = graphc.Parameter([1.0, -2.0, 0.5])
        outer, inner = GradManager().attach(w), GradManager().attach(w)
        with outer:
            with inner:
                inner.backward((w ** 3).sum())
            g = w.grad
            w.grad = None
            outer.backward((g * g).sum())
        np.testing.assert_allclose(w.grad.numpy(), 36 * np.array([1.0, -2.0, 0.5]) ** 3,
                                   rtol=1e-5)


def test_explain_shows_the_backward_kernels_of_a_pending_step():
    model, x, y = _model_and_batch(4)
    gm = GradManager().attach(model.parameters())
    with gm:
        gm.backward(F.cross_entropy(model(x), y))
    kernels = graphc.explain(*[p.grad for p in model.parameters()]).kernels
    ops = {op for k in kernels for op in k.ops}
    assert "matmul" in ops and "grad_of" not in ops


def _train(scenario: str) -> tuple[list[float], list[np.ndarray]]:
    graphc.random.seed(0)
    model = M.Sequential(M.Linear(5, 8), M.BatchNorm1d(8), M.ReLU(), M.Linear(8, 3))
    gm = GradManager().attach(model.parameters())
    opt = (graphc.optimizer.Adam(model.parameters(), lr=0.01) if scenario == "adam" else
           graphc.optimizer.SGD(model.parameters(), lr=0.1, momentum=0.9))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(4):
        for micro in range(2):  # two backward calls accumulate before each step
            x = graphc.tensor(rng.standard_normal((4, 5)).astype(np.float32))
            y = graphc.tensor(rng.integers(0, 3, 4).astype(np.int32))
            with gm:
                loss = F.cross_entropy(model(x), y)
                gm.backward(loss)
            if scenario == "print" and micro == 0:
                model[0].weight.grad.numpy()  # a gradient read before the step
        graphc.optimizer.clip_grad_norm(model.parameters(), max_norm=0.5)
        opt.step().clear_grad()
        losses.append(loss.item())
    return losses, [t.numpy() for t in list(model.parameters()) + list(model.buffers())]


@pytest.mark.parametrize("scenario", ["adam", "sgd", "print"])
def test_deferred_training_is_bit_identical_to_eager_backward(backend, scenario, monkeypatch):
    """BatchNorm statistics, gradient accumulation, clipping, Adam or momentum SGD, and
    a gradient read between backward and step: the same bits as building every
    backward on the spot."""
    deferred = _train(scenario)
    from graphc.autodiff import gradients

    monkeypatch.setattr(gradients, "_deferred_gradients", lambda *args: None)
    eager = _train(scenario)
    assert deferred[0] == eager[0]
    for got, want in zip(deferred[1], eager[1]):
        np.testing.assert_array_equal(got, want)
