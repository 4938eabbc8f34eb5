"""Parameter initialisation (graphc/module/init.py) against MegEngine's documented
formulas: gains, fans, and the MSRA (He) initialisers with ``mode`` and ``nonlinearity``."""

import math

import numpy as np
import pytest

import graphc
import graphc.module as M
from graphc.module import init


def zeros(*shape):
    return graphc.Parameter(np.zeros(shape, np.float32))


@pytest.mark.parametrize(("nonlinearity", "param", "gain"), [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("conv_transpose3d", None, 1.0),
    ("sigmoid", None, 1.0), ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))), ("leaky_relu", 0, math.sqrt(2)),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", 1, 1.0),
])
def test_calculate_gain_matches_the_documented_table(nonlinearity, param, gain):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-12)


def test_calculate_gain_rejects_unknown_names_and_bad_slopes():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'selu'"):
        init.calculate_gain("selu")
    with pytest.raises(ValueError, match="negative_slope True is not a number"):
        init.calculate_gain("leaky_relu", True)


def test_fans_of_linear_and_conv_weights():
    # MegEngine's test_calculate_fan_in_and_fan_out, grouped conv included.
    assert init.calculate_fan_in_and_fan_out(M.Linear(3, 8).weight) == (3, 8)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(M.Linear(3, 8).bias)
    assert init.calculate_fan_in_and_fan_out(M.Conv2d(2, 3, (5, 7)).weight) == (
        2 * 5 * 7, 3 * 5 * 7)
    assert init.calculate_fan_in_and_fan_out(M.Conv2d(2, 4, (5, 7), groups=2).weight) == (
        2 // 2 * 5 * 7, 4 // 2 * 5 * 7)
    assert init.calculate_fan_in_and_fan_out(zeros(10, 4)) == (4, 10)
    assert init.calculate_correct_fan(zeros(8, 3, 5, 5), "fan_in") == 75
    assert init.calculate_correct_fan(zeros(8, 3, 5, 5), "FAN_OUT") == 200
    with pytest.raises(ValueError, match="mode 'fan_both' is not supported"):
        init.calculate_correct_fan(zeros(8, 3), "fan_both")


@pytest.mark.parametrize(("kwargs", "std"), [
    ({}, math.sqrt(2 / 27)),  # a = 0 with leaky_relu: sqrt(2 / fan_in)
    ({"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(16 * 9)),
    ({"a": 0.2, "mode": "fan_in"}, math.sqrt(2 / 1.04) / math.sqrt(27)),
    ({"nonlinearity": "tanh"}, 5 / 3 / math.sqrt(27)),
])
def test_msra_normal_draws_normal_with_the_gain_over_the_root_fan(kwargs, std):
    # The same draw as normal_(w, 0, std) under the same seed: std is exactly the formula.
    w, expected = zeros(16, 3, 3, 3), zeros(16, 3, 3, 3)
    graphc.random.seed(11)
    init.msra_normal_(w, **kwargs)
    graphc.random.seed(11)
    init.normal_(expected, 0.0, std)
    np.testing.assert_array_equal(w.numpy(), expected.numpy())


@pytest.mark.parametrize("kwargs", [{}, {"mode": "fan_out", "nonlinearity": "relu"},
                                    {"a": 1.0, "nonlinearity": "leaky_relu"}])
def test_msra_uniform_draws_within_root_3_std(kwargs):
    w, expected = zeros(16, 3, 3, 3), zeros(16, 3, 3, 3)
    fan = 16 * 9 if kwargs.get("mode") == "fan_out" else 27
    gain = init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0))
    bound = math.sqrt(3) * gain / math.sqrt(fan)
    graphc.random.seed(5)
    init.msra_uniform_(w, **kwargs)
    graphc.random.seed(5)
    init.uniform_(expected, -bound, bound)
    np.testing.assert_array_equal(w.numpy(), expected.numpy())


def test_msra_normal_sample_statistics_match_numpy():
    # ResNet's call; the spread of a large draw is the formula's within sampling error.
    w = zeros(256, 64, 3, 3)
    graphc.random.seed(0)
    M.init.msra_normal_(w, mode="fan_out", nonlinearity="relu")
    values = w.numpy()
    assert abs(values.mean()) < 0.01 * math.sqrt(2 / (256 * 9))
    assert values.std() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.01)
