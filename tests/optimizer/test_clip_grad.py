"""clip_grad_norm and clip_grad_value against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.optimizer as optim


def _params_with_grads(seed: int = 0, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    grads = [scale * rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (4,)]]
    params = [graphc.Parameter(np.zeros(g.shape, np.float32)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = graphc.tensor(g)
    return params, grads


@pytest.mark.parametrize("ord", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm(ord, max_norm) -> None:
    params, grads = _params_with_grads(scale=3.0)
    flat = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
    total = np.linalg.norm(flat, ord=ord)
    returned = optim.clip_grad_norm(params, max_norm=max_norm, ord=ord)
    assert returned.item() == pytest.approx(total, rel=1e-5)
    scale = min(1.0, max_norm / (total + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * scale, rtol=1e-5, atol=1e-7)
    if max_norm < total:
        clipped = np.concatenate([p.grad.numpy().ravel() for p in params])
        assert np.linalg.norm(clipped, ord=ord) == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_skips_missing_grads_and_keeps_grad_objects() -> None:
    params, _ = _params_with_grads()
    extra = graphc.Parameter([1.])
    grad_objects = [p.grad for p in params]
    optim.clip_grad_norm(params + [extra], max_norm=0.1)
    assert extra.grad is None
    assert [p.grad for p in params] == grad_objects  # rewritten in place
    assert optim.clip_grad_norm([extra], max_norm=1.0).item() == 0.0


def test_clip_grad_value() -> None:
    params, grads = _params_with_grads(scale=2.0)
    optim.clip_grad_value(params, lower=-0.5, upper=1.0)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.5, 1.0))


def test_clipped_grads_feed_the_step() -> None:
    w = graphc.Parameter([0., 0.])
    w.grad = graphc.tensor([30., 40.])
    opt = optim.SGD([w], lr=1.0)
    optim.clip_grad_norm([w], max_norm=5.0)
    opt.step()
    np.testing.assert_allclose(w.numpy(), [-3.0, -4.0], rtol=1e-5)


def test_bad_bounds() -> None:
    params, _ = _params_with_grads()
    with pytest.raises(ValueError, match="greater"):
        optim.clip_grad_value(params, lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(params, max_norm=-1.0)
