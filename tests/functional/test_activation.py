"""MegEngine's extra activations (graphc/functional/activation.py) against NumPy, on the
reference interpreter and the compiled backend, with gradients by finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F

X = np.array([-30.0, -4.0, -3.0, -1.0, -0.25, 0.0, 0.5, 2.9, 3.0, 6.5, 40.0], np.float32)


@pytest.fixture(params=["interp", "compiled"])
def backend(request, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", request.param)
    return request.param


def _softplus(x):
    return np.logaddexp(0.0, x.astype(np.float64))


REFERENCES = {
    "relu6": lambda x: np.clip(x, 0, 6),
    "hsigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "hswish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "silu": lambda x: x / (1 + np.exp(-x.astype(np.float64))),
    "softplus": _softplus,
    "logsigmoid": lambda x: -_softplus(-x),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_values(backend, name) -> None:
    got = getattr(F.nn, name)(graphc.tensor(X)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, REFERENCES[name](X), rtol=1e-5, atol=1e-6)
    assert getattr(F, name) is getattr(F.nn, name)


@pytest.mark.parametrize("name", ["silu", "softplus", "hswish"])
def test_activation_gradients(name) -> None:
    x = graphc.tensor(np.array([-2.0, -0.7, 0.4, 1.3], np.float32))
    grad = graphc.grad(getattr(F, name)(x).sum(), x).numpy()
    x64 = x.numpy().astype(np.float64)
    eps = 1e-4
    numeric = (REFERENCES[name](x64 + eps) - REFERENCES[name](x64 - eps)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4)


def test_prelu_per_channel(backend) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    w = np.array([0.1, 0.5, 2.0], np.float32)
    got = F.nn.prelu(graphc.tensor(x), graphc.tensor(w)).numpy()
    np.testing.assert_allclose(got, np.where(x > 0, x, x * w[None, :, None]), rtol=1e-6)
    with pytest.raises(graphc.ShapeError, match="prelu: weight of shape \\(2,\\)"):
        F.nn.prelu(graphc.tensor(x), graphc.tensor(w[:2]))
