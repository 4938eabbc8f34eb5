"""F.batch_norm and F.layer_norm (graphc/functional/normalization.py) against NumPy
references written from MegEngine's formulas (its own unit tests: biased variance to
normalise, unbiased variance into running_var, ``running = momentum * running +
(1 - momentum) * batch``), finite-difference gradients, the lazy running-stat update,
errors, and the compiled path (one fused kernel per forward)."""

import sys
from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ir import DTypeError, ShapeError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autodiff.gradcheck import check_grad  # noqa: E402
from runtime.compiled import assert_same  # noqa: E402

RNG = np.random.default_rng(11)


def randn(*shape, loc=0.0):
    return (RNG.standard_normal(shape) + loc).astype(np.float32)


def np_batch_stats(x):
    """(mean, biased var, unbiased var) per channel, as (1, C, 1, ...) arrays."""
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    var = x.var(axis=axes, keepdims=True, dtype=np.float64)
    n = x.size // x.shape[1]
    return mean, var, var * n / (n - 1)


def np_layer_norm(x, k, eps):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    var = x.var(axis=axes, keepdims=True, dtype=np.float64)
    return (x - mean) / np.sqrt(var + eps)


# ---- batch_norm -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5)])
def test_training_normalises_with_batch_statistics(shape):
    x = randn(*shape, loc=2.3)
    c = shape[1]
    w, b = randn(c), randn(c)
    y = F.batch_norm(graphc.tensor(x), weight=w, bias=b, training=True, eps=1e-3)
    mean, var, _ = np_batch_stats(x)
    pshape = (1, c) + (1,) * (x.ndim - 2)
    want = (x - mean) / np.sqrt(var + 1e-3) * w.reshape(pshape) + b.reshape(pshape)
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)


def test_eval_normalises_with_running_statistics():
    x = randn(2, 3, 4, 4)
    rm, rv = randn(1, 3, 1, 1), np.abs(randn(1, 3, 1, 1)) + 0.5
    w, b = randn(1, 3, 1, 1), randn(1, 3, 1, 1)
    y = F.batch_norm(graphc.tensor(x), graphc.tensor(rm), graphc.tensor(rv), w, b)
    np.testing.assert_allclose(y.numpy(), (x - rm) / np.sqrt(rv + 1e-5) * w + b, rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("shape, stat_shape", [((8, 4), (4,)), ((3, 4, 2, 2), (1, 4, 1, 1)),
                                               ((5, 4), (1, 4, 1, 1))])
def test_running_statistics_follow_megengine_over_several_steps(shape, stat_shape):
    momentum, eps = 0.8, 1e-5
    rm = graphc.tensor(np.zeros(stat_shape, np.float32))
    rv = graphc.tensor(np.ones(stat_shape, np.float32))
    want_m = np.zeros(stat_shape)
    want_v = np.ones(stat_shape)
    for _ in range(3):
        x = randn(*shape, loc=2.3)
        y = F.batch_norm(graphc.tensor(x), rm, rv, training=True, momentum=momentum, eps=eps)
        mean, var, unbiased = np_batch_stats(x)
        want_m = want_m * momentum + mean.reshape(stat_shape) * (1 - momentum)
        want_v = want_v * momentum + unbiased.reshape(stat_shape) * (1 - momentum)
        np.testing.assert_allclose(y.numpy(), (x - mean) / np.sqrt(var + eps), rtol=1e-5,
                                   atol=1e-5)
    assert rm.shape == stat_shape and rm.dtype == np.float32
    np.testing.assert_allclose(rm.numpy(), want_m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv.numpy(), want_v, rtol=1e-5, atol=1e-6)


def test_running_update_is_lazy_and_goes_through_rebind():

    from graphc.ir.state import current

    mutated = current().mutated  # what the rebind door notes for the next step
    mutated.clear()
    rm, rv = F.zeros(2), F.ones(2)
    rm.numpy(), rv.numpy()
    F.batch_norm(graphc.tensor([[1., 2.], [3., 4.]]), rm, rv, training=True)
    assert [id(t) for t in mutated.values()] == [id(rm), id(rv)]
    mutated.clear()
    assert rm._node.buffer is None and rv._node.buffer is None  # pending until read
    np.testing.assert_allclose(rm.numpy(), [0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(rv.numpy(), [0.9 + 0.1 * 2, 0.9 + 0.1 * 2], rtol=1e-6)


def test_not_inplace_returns_new_statistics_and_keeps_the_buffers():
    x = randn(6, 2)
    rm, rv = graphc.tensor(np.zeros(2, np.float32)), graphc.tensor(np.ones(2, np.float32))
    out, new_m, new_v = F.batch_norm(graphc.tensor(x), rm, rv, training=True, inplace=False)
    mean, _, unbiased = np_batch_stats(x)
    np.testing.assert_allclose(new_m.numpy(), 0.1 * mean.ravel(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new_v.numpy(), 0.9 + 0.1 * unbiased.ravel(), rtol=1e-5)
    np.testing.assert_array_equal(rm.numpy(), [0, 0])
    np.testing.assert_array_equal(rv.numpy(), [1, 1])
    assert out.shape == (6, 2)
    only_mean = F.batch_norm(graphc.tensor(x), rm, None, training=True, inplace=False)
    assert only_mean[2] is None and only_mean[1] is not None


def test_errors_name_the_op_shapes_and_line():
    x = F.ones((4, 3))
    with pytest.raises(ValueError, match="running_mean and running_var are needed when not "
                                         "training.*test_normalization.py"):
        F.batch_norm(x)
    with pytest.raises(ShapeError, match=r"batch_norm: weight of shape \(4,\) does not match "
                                         r"the 3 channels of the input of shape \(4, 3\)"):
        F.batch_norm(x, weight=np.ones(4, np.float32), training=True)
    with pytest.raises(ShapeError, match=r"batch_norm: expects an \(N, C, \.\.\.\) input, got "
                                         r"shape \(3,\)"):
        F.batch_norm(F.ones(3), training=True)
    with pytest.raises(DTypeError, match="batch_norm: expects a floating-point input, got "
                                         "int32"):
        F.batch_norm(graphc.tensor([[1, 2]]), training=True)
    with pytest.raises(ValueError, match="needs more than one value per channel"):
        F.batch_norm(F.ones((1, 3)), F.zeros(3), F.ones(3), training=True)


def test_batch_norm_gradients_match_finite_differences():
    x, w, b = RNG.standard_normal((4, 3)), RNG.standard_normal(3), RNG.standard_normal(3)
    check_grad(lambda x, w, b: F.batch_norm(x, weight=w, bias=b, training=True), x, w, b)
    x4 = RNG.standard_normal((2, 2, 2, 3))
    w4 = RNG.standard_normal((1, 2, 1, 1))
    check_grad(lambda x, w: F.batch_norm(x, weight=w, training=True, eps=1e-3), x4, w4)
    rm, rv = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
    check_grad(lambda x, w, b: F.batch_norm(x, graphc.tensor(rm, dtype="float64"),
                                            graphc.tensor(rv, dtype="float64"), w, b), x, w, b)


# ---- layer_norm -----------------------------------------------------------------------

@pytest.mark.parametrize("shape, normalized", [((4, 6), 6), ((2, 3, 4), (3, 4)),
                                               ((2, 3, 4), (4,))])
def test_layer_norm_matches_numpy(shape, normalized):
    x = randn(*shape, loc=1.5)
    k = 1 if isinstance(normalized, int) else len(normalized)
    norm_shape = shape[len(shape) - k:]
    w, b = randn(*norm_shape), randn(*norm_shape)
    y = F.layer_norm(graphc.tensor(x), normalized, weight=w, bias=b, eps=1e-4)
    np.testing.assert_allclose(y.numpy(), np_layer_norm(x, k, 1e-4) * w + b, rtol=1e-5,
                               atol=1e-5)
    plain = F.layer_norm(graphc.tensor(x), normalized, affine=False)
    np.testing.assert_allclose(plain.numpy(), np_layer_norm(x, k, 1e-5), rtol=1e-5, atol=1e-5)


def test_layer_norm_errors():
    x = F.ones((2, 3))
    with pytest.raises(ShapeError, match=r"layer_norm: normalized_shape \(2,\) must be the "
                                         r"trailing dimensions of the input of shape \(2, 3\)"):
        F.layer_norm(x, 2, affine=False)
    with pytest.raises(ValueError, match="affine=True needs weight and bias"):
        F.layer_norm(x, 3)
    with pytest.raises(ShapeError, match=r"bias of shape \(2,\) must have the normalized_shape"):
        F.layer_norm(x, 3, weight=np.ones(3, np.float32), bias=np.ones(2, np.float32))


def test_layer_norm_gradients_match_finite_differences():
    x, w, b = RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal(4)
    check_grad(lambda x, w, b: F.layer_norm(x, 4, weight=w, bias=b), x, w, b)
    check_grad(lambda x: F.layer_norm(x, (2, 2), affine=False),
               RNG.standard_normal((2, 2, 2)))


# ---- compiled ------------------------------------------------------------------------

def test_compiled_forward_is_one_kernel_each_and_agrees_with_the_interpreter():
    x = graphc.tensor(randn(4, 3, 5, 5, loc=1.0))
    rm, rv = F.zeros((1, 3, 1, 1)), F.ones((1, 3, 1, 1))
    rm.numpy(), rv.numpy()
    y = F.batch_norm(x, rm, rv, randn(1, 3, 1, 1), randn(1, 3, 1, 1), training=True)
    compiled = assert_same(y, rm, rv)  # output and both running statistics
    assert len(compiled.kernels) == 1
    z = F.layer_norm(graphc.tensor(randn(6, 7)), 7, weight=randn(7), bias=randn(7))
    assert len(assert_same(z).kernels) == 1


def test_megengine_spellings_under_f_nn():
    assert (F.nn.batch_norm, F.nn.layer_norm, F.nn.pad) == (F.batch_norm, F.layer_norm, F.pad)
