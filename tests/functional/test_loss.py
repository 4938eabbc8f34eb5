"""Losses against NumPy references, their gradients, and label bounds checks."""

import numpy as np
import pytest

import graphc
import graphc.functional as F

RNG = np.random.default_rng(0)


def np_logsoftmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smooth", [0.0, 0.1])
def test_cross_entropy_matches_numpy(reduction, smooth):
    x = RNG.standard_normal((6, 5)).astype(np.float64)
    y = RNG.integers(0, 5, 6)
    logp = np_logsoftmax(x, 1)
    want = -(1 - smooth) * logp[np.arange(6), y] - smooth * logp.mean(axis=1)
    want = {"mean": want.mean(), "sum": want.sum(), "none": want}[reduction]
    got = F.cross_entropy(graphc.tensor(x, dtype="float64"), graphc.tensor(y),
                          label_smooth=smooth, reduction=reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_cross_entropy_on_probabilities_and_other_axis():
    x = RNG.standard_normal((3, 4, 2))
    y = RNG.integers(0, 4, (3, 2))
    p = np.exp(np_logsoftmax(x, 1))
    want = -np.log(np.take_along_axis(p, y[:, None, :], 1)).mean()
    got = F.cross_entropy(graphc.tensor(p, dtype="float64"), graphc.tensor(y), axis=1,
                          with_logits=False)
    np.testing.assert_allclose(got.item(), want, rtol=1e-10)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = RNG.standard_normal((4, 3))
    y = RNG.integers(0, 3, 4)
    t = graphc.tensor(x, dtype="float64")
    g = graphc.grad(F.cross_entropy(t, graphc.tensor(y)), t).numpy()
    want = (np.exp(np_logsoftmax(x, 1)) - np.eye(3)[y]) / 4
    np.testing.assert_allclose(g, want, rtol=1e-10)


def test_cross_entropy_is_stable_for_large_logits():
    x = np.array([[1000.0, -1000.0, 0.0]])
    assert np.isfinite(F.cross_entropy(graphc.tensor(x), graphc.tensor([1])).item())


def test_out_of_range_label_names_the_op_and_line():
    logits = graphc.tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(graphc.OpError,
                       match=r"check_index: label 3 is out of bounds.*test_loss.py:\d+"):
        F.cross_entropy(logits, graphc.tensor([0, 3])).item()


def test_binary_cross_entropy_with_and_without_logits():
    x = RNG.standard_normal(8) * 5
    y = RNG.integers(0, 2, 8).astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    want = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    tx, ty = graphc.tensor(x, dtype="float64"), graphc.tensor(y, dtype="float64")
    np.testing.assert_allclose(F.binary_cross_entropy(tx, ty).item(), want, rtol=1e-9)
    np.testing.assert_allclose(
        F.binary_cross_entropy(graphc.tensor(p, dtype="float64"), ty, with_logits=False).item(),
        want, rtol=1e-6)
    huge = F.binary_cross_entropy(graphc.tensor([1000.0, -1000.0]), graphc.tensor([0.0, 1.0]))
    np.testing.assert_allclose(huge.item(), 1000.0, rtol=1e-6)


def test_regression_losses_and_aliases():
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    ta, tb = graphc.tensor(a, dtype="float64"), graphc.tensor(b, dtype="float64")
    np.testing.assert_allclose(F.square_loss(ta, tb).item(), ((a - b) ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(ta, tb, reduction="sum").item(), ((a - b) ** 2).sum())
    np.testing.assert_allclose(F.l1_loss(ta, tb).item(), np.abs(a - b).mean())
    assert F.nn.cross_entropy is F.loss.cross_entropy is F.cross_entropy
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(ta, tb, reduction="avg")


def test_nll_selects_with_a_mask_that_fuses_and_keeps_the_bounds_check():
    """The label pick is a one-hot select (no gather/scatter library calls), equal to
    NumPy's pick on a middle axis, with gradients, and a bad label still raises."""
    x = RNG.standard_normal((3, 4, 2))
    y = RNG.integers(0, 4, (3, 2))
    t = graphc.tensor(x, dtype="float64")
    loss = F.nll_loss(t, graphc.tensor(y), axis=1)
    want = -np.take_along_axis(x, y[:, None, :], 1).mean()
    np.testing.assert_allclose(loss.item(), want, rtol=1e-12)
    kernels = graphc.explain(F.nll_loss(t, graphc.tensor(y), axis=1)).kernels
    ops = {op for k in kernels for op in k.ops}
    assert not ops & {"gather", "scatter_add_axis"}
    grad = graphc.grad(F.nll_loss(t, graphc.tensor(y), axis=1), t).numpy()
    want_grad = np.zeros_like(x)
    np.put_along_axis(want_grad, y[:, None, :], -1 / y.size, 1)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12)
    with pytest.raises(graphc.OpError, match=r"label -1 is out of bounds.*test_loss.py:\d+"):
        F.nll_loss(t, graphc.tensor(np.full((3, 2), -1)), axis=1).item()


def test_label_bounds_are_checked_inside_a_jitted_step():
    @graphc.jit
    def loss(x, y):
        return F.cross_entropy(x, y)

    x = np.zeros((2, 3), np.float32)
    np.testing.assert_allclose(loss(x, np.array([0, 2], np.int32)).item(), np.log(3), rtol=1e-6)
    with pytest.raises(graphc.OpError, match="label 3 is out of bounds"):
        loss(x, np.array([0, 3], np.int32))
