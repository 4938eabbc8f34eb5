"""What stays differentiable once realized (docs/architecture.md, "Memory is released by
rebinding"): results of graphc.grad keep their graphs, so gradients of printed gradients
work (PyTorch's create_graph=True); Tensors realized while a GradManager records keep
theirs until it releases; custom Functions nest to any order."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.autodiff import Function, GradManager

X = np.array([0.3, 1.2, -0.7, 2.1], np.float32)

# op, first and second derivative: the known results
OPS = {
    "sin": (F.sin, np.cos, lambda x: -np.sin(x)),
    "exp": (F.exp, np.exp, np.exp),
    "tanh": (F.tanh, lambda x: 1 - np.tanh(x) ** 2,
             lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "cube": (lambda x: x * x * x, lambda x: 3 * x ** 2, lambda x: 6 * x),
    "sigmoid": (F.sigmoid, lambda x: _sig(x) * (1 - _sig(x)),
                lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x))),
}


def _sig(x):
    return 1 / (1 + np.exp(-x))


@pytest.fixture(params=["interp", "compiled"])
def backend(request, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", request.param)
    return request.param


@pytest.mark.parametrize("name", sorted(OPS))
def test_the_gradient_of_a_printed_gradient(backend, name):
    f, d1, d2 = OPS[name]
    x = graphc.tensor(X)
    (g,) = graphc.grad(f(x).sum(), [x])
    np.testing.assert_allclose(g.numpy(), d1(X), rtol=1e-5, atol=1e-6)  # realizes g
    (gg,) = graphc.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.numpy(), d2(X), rtol=1e-4, atol=1e-5)
    # and once more: the printed second derivative is differentiable too
    (ggg,) = graphc.grad(gg.sum(), [x])
    h = 1e-2
    want = (d2(X.astype(np.float64) + h) - d2(X.astype(np.float64) - h)) / (2 * h)
    np.testing.assert_allclose(ggg.numpy(), want, rtol=2e-3, atol=2e-3)


def test_a_value_derived_from_a_gradient_and_realized_is_released():
    """Only the results of graphc.grad keep their graphs (not what is computed from them):
    a functional training loop `w = w - lr * g` must not chain every step's graph."""
    x = graphc.tensor(X)
    (g,) = graphc.grad(F.sin(x).sum(), [x])
    h = g * 2
    h.numpy()
    assert h._node.op == "buffer"
    with pytest.raises(RuntimeError, match="graph of y was released when mul"):
        graphc.grad(h.sum(), [x])


def test_printing_inside_a_grad_manager_keeps_the_graph_until_backward(backend):
    w = graphc.Parameter(X)
    gm = GradManager().attach(w)
    with gm:
        y = (F.sin(w) * w).sum()
        printed = y.item()
        assert y._node.inputs  # still differentiable
        gm.backward(y)
    assert y._node.op == "buffer"  # released when recording ended
    np.testing.assert_allclose(printed, np.sum(np.sin(X) * X), rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), np.cos(X) * X + np.sin(X), rtol=1e-5)


class CustomSin(Function):
    def forward(self, x):
        self.x = x
        return F.sin(x)

    def backward(self, dy):
        return dy * CustomCos()(self.x)


class CustomCos(Function):
    def forward(self, x):
        self.x = x
        return F.cos(x)

    def backward(self, dy):
        return -dy * CustomSin()(self.x)


def _fd(fn, x, h=1e-3):
    x = x.astype(np.float64)
    return (fn(x + h) - fn(x - h)) / (2 * h)


def test_nested_custom_functions_differentiate_to_second_and_third_order(backend):
    x = graphc.tensor(X)
    (g,) = graphc.grad(CustomSin()(x).sum(), [x])
    (gg,) = graphc.grad(g.sum(), [x])
    (ggg,) = graphc.grad(gg.sum(), [x])
    np.testing.assert_allclose(g.numpy(), _fd(np.sin, X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gg.numpy(), _fd(np.cos, X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ggg.numpy(), _fd(lambda v: -np.sin(v), X), rtol=1e-4,
                               atol=1e-5)


def test_nested_custom_functions_under_two_grad_managers(backend):
    """MegEngine's second order: the inner manager's gradient, differentiated by the
    outer one, accumulates into x.grad: -sin(x) + d(-sin x)/dx = -sin(x) - cos(x)."""
    x = graphc.Parameter(X)
    outer, inner = GradManager().attach(x), GradManager().attach(x)
    with outer:
        with inner:
            y = CustomCos()(x).sum()
            inner.backward(y)
        first = x.grad.numpy().copy()
        outer.backward(x.grad.sum())
    np.testing.assert_allclose(first, _fd(np.cos, X), rtol=1e-4, atol=1e-5)
    want = _fd(np.cos, X) + _fd(lambda v: -np.sin(v), X)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-4, atol=1e-5)
