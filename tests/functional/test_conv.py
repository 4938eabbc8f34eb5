"""F.conv2d and the pooling functions: MegEngine's signatures, bias and grouped-weight
forms, adaptive pooling's window rule, gradients and errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ir import ShapeError
from tests.autodiff.gradcheck import check_grad
from tests.ops import conv_reference as ref


def f64(a):
    return graphc.tensor(a, dtype="float64")


def test_conv2d_with_bias_pairs_and_grouped_weights_matches_direct_loops():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((2, 3, 2, 3, 2))
    b = rng.standard_normal((1, 6, 1, 1))
    want = ref.conv2d(x, w.reshape(6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2) + b
    got = F.conv2d(f64(x), f64(w), f64(b), stride=(2, 1), padding=(1, 0), dilation=[1, 2],
                   groups=2)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    # The ungrouped weight layout and a vector bias give the same result.
    same = F.nn.conv2d(f64(x), f64(w.reshape(6, 2, 3, 2)), f64(b.ravel()), (2, 1), (1, 0),
                       (1, 2), 2, conv_mode="CROSS_CORRELATION", compute_mode="float32")
    np.testing.assert_allclose(same.numpy(), want, rtol=1e-12, atol=1e-12)


def test_integer_input_computes_in_float32():
    x = graphc.tensor(np.arange(16, dtype=np.int32).reshape(1, 1, 4, 4))
    y = F.conv2d(x, np.ones((1, 1, 2, 2), np.float32), stride=2)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy()[0, 0], [[10, 18], [42, 50]])


def test_conv2d_gradients_with_bias_match_finite_differences():
    rng = np.random.default_rng(1)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
               rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)),
               rng.standard_normal((1, 3, 1, 1)))


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"weight": np.ones((2, 3, 3))}, ShapeError, r"conv2d: weight must be \(O, C/groups"),
    ({"inp": np.ones((3, 6, 6))}, ShapeError,
     r"conv2d: expects a 4-D input \(N, C, H, W\), got shape \(3, 6, 6\)"),
    ({"conv_mode": "convolution"}, ValueError, r"conv2d: conv_mode 'convolution' is not"),
    ({"compute_mode": "float16"}, ValueError, r"conv2d: compute_mode 'float16'"),
    ({"groups": 0}, ValueError, r"conv2d: groups must be a positive int, got 0"),
    ({"weight": np.ones((2, 1, 1, 3, 3)), "groups": 3}, ShapeError,
     r"grouped weight \(2, 1, 1, 3, 3\) has 2 groups but groups=3"),
    ({"bias": np.ones((1, 3))}, ShapeError, r"conv2d: bias must be \(1, 2, 1, 1\) or \(2,\)"),
    ({"stride": (1, 2, 3)}, ValueError, r"conv2d: stride must be an int or a pair of ints"),
    ({"padding": 1.5}, TypeError, r"conv2d: padding must be an int or a pair of ints"),
    ({"weight": np.ones((2, 2, 3, 3))}, ShapeError,
     r"conv2d: input has 1 channels but weight \(2, 2, 3, 3\) with groups=1 expects 2"),
    ({"weight": np.ones((2, 1, 9, 3)), "padding": 1}, ShapeError,
     r"conv2d: kernel \(9, 3\) spans \(9, 3\), larger than the input \(6, 6\) padded by "
     r"\(1, 1\) to \(8, 8\)"),
])
def test_conv2d_errors_name_the_problem_and_the_line(kwargs, error, message):
    args = {"inp": np.ones((1, 1, 6, 6), np.float32), "weight": np.ones((2, 1, 3, 3))}
    args.update(kwargs)
    with pytest.raises(error, match=message) as info:
        F.conv2d(**args)
    assert "test_conv.py" in str(info.value)


@pytest.mark.parametrize("mode", ["average", "average_count_exclude_padding"])
def test_pooling_functions_match_direct_loops(mode):
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6))
    np.testing.assert_array_equal(F.max_pool2d(f64(x), 2).numpy(),
                                  ref.max_pool2d(x, (2, 2), (2, 2), (0, 0)))
    np.testing.assert_array_equal(F.nn.max_pool2d(f64(x), (3, 2), 1, (1, 0)).numpy(),
                                  ref.max_pool2d(x, (3, 2), (1, 1), (1, 0)))
    np.testing.assert_allclose(F.avg_pool2d(f64(x), 3, 2, 1, mode=mode).numpy(),
                               ref.avg_pool2d(x, (3, 3), (2, 2), (1, 1), mode), rtol=1e-12)
    default = F.avg_pool2d(f64(x), 3, 2, 1).numpy()  # MegEngine's default excludes padding
    np.testing.assert_allclose(
        default, ref.avg_pool2d(x, (3, 3), (2, 2), (1, 1), "average_count_exclude_padding"))


def test_adaptive_pooling_uses_megengine_windows():
    x = np.random.default_rng(3).standard_normal((1, 2, 7, 8))
    # 7 → 3: stride 7 // 3 = 2, window 7 - 2*2 = 3; 8 → 4: stride 2, window 2.
    np.testing.assert_allclose(F.adaptive_avg_pool2d(f64(x), (3, 4)).numpy(),
                               ref.avg_pool2d(x, (3, 2), (2, 2), (0, 0), "average"))
    np.testing.assert_array_equal(F.nn.adaptive_max_pool2d(f64(x), (3, 4)).numpy(),
                                  ref.max_pool2d(x, (3, 2), (2, 2), (0, 0)))
    # Divisible sizes: block means, as in every framework.
    blocks = x[:, :, :6].reshape(1, 2, 2, 3, 2, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(f64(x[:, :, :6]), 2).numpy(), blocks)


def test_pooling_gradients_match_finite_differences():
    x = np.random.default_rng(4).permutation(84).reshape(1, 2, 7, 6) / 7.0
    check_grad(lambda t: F.max_pool2d(t, 3, 2, 1), x)
    check_grad(lambda t: F.avg_pool2d(t, 3, 2, 1), x)
    check_grad(lambda t: F.adaptive_avg_pool2d(t, (3, 2)), x)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: F.max_pool2d(x, 2, padding=2), ShapeError,
     r"max_pool2d: padding \(2, 2\) must be smaller than the kernel \(2, 2\)"),
    (lambda x: F.avg_pool2d(x, 2, mode="sum"), ValueError, r"avg_pool2d: mode 'sum' is not"),
    (lambda x: F.max_pool2d(x[0], 2), ShapeError, r"max_pool2d: expects a 4-D input"),
    (lambda x: F.adaptive_avg_pool2d(x, 7), ShapeError,
     r"adaptive_avg_pool2d: output size \(7, 7\) must be positive and at most the input size"),
    (lambda x: F.max_pool2d(x, 9), ShapeError, r"max_pool2d: kernel \(9, 9\) spans"),
])
def test_pooling_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(graphc.tensor(np.ones((1, 1, 6, 6), np.float32)))
