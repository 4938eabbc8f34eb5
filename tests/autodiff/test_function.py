"""graphc.autodiff.Function: user-written backward rules (MegEngine's test_function.py)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.autodiff import Function, GradManager, grad
from tests.autodiff.gradcheck import as_f64


class MulAndAdd(Function):
    """Two inputs, two outputs: (a * b, a + b)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b, a + b

    def backward(self, d_product, d_sum):
        # An output that got no gradient passes None, as in MegEngine.
        if d_sum is None:
            return d_product * self.b, d_product * self.a
        if d_product is None:
            return d_sum, d_sum
        return d_product * self.b + d_sum, d_product * self.a + d_sum


class StraightThroughRound(Function):
    """Rounds in the forward pass, passes the gradient through unchanged."""

    def forward(self, x):
        return F.round(x)

    def backward(self, dy):
        return dy


class OnlyFirstInput(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, dy):
        return dy * 10, None


def test_several_inputs_and_outputs() -> None:
    a, b = as_f64([1.0, 2.0]), as_f64([3.0, 4.0])
    product, total = MulAndAdd()(a, b)
    np.testing.assert_array_equal(product.numpy(), [3.0, 8.0])
    a, b = as_f64([1.0, 2.0]), as_f64([3.0, 4.0])
    product, total = MulAndAdd()(a, b)
    ga, gb = grad((product * 2 + total * 3).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), 2 * np.array([3.0, 4.0]) + 3)
    np.testing.assert_array_equal(gb.numpy(), 2 * np.array([1.0, 2.0]) + 3)


def test_an_unused_output_gets_no_gradient() -> None:
    a, b = as_f64([1.0, 2.0]), as_f64([3.0, 4.0])
    product, _ = MulAndAdd()(a, b)
    ga, gb = grad(product.sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gb.numpy(), [1.0, 2.0])


class SumAndScale(Function):
    """Outputs of different shapes; records which output gradients backward received."""

    received: list = []

    def forward(self, x):
        return x.sum(), x * 2

    def backward(self, d_sum, d_scaled):
        SumAndScale.received.append((d_sum is None, d_scaled is None))
        out = 0
        if d_sum is not None:
            assert d_sum.shape == ()
            out = out + F.broadcast_to(d_sum, (3,))
        if d_scaled is not None:
            assert d_scaled.shape == (3,)
            out = out + d_scaled * 2
        return out


def test_backward_receives_none_for_outputs_without_a_gradient() -> None:
    """MegEngine passes None (not zeros) for an output that got no gradient."""
    SumAndScale.received.clear()
    x = as_f64([1.0, 2.0, 3.0])
    total, _ = SumAndScale()(x)
    np.testing.assert_array_equal(grad(total * 5, x).numpy(), [5.0, 5.0, 5.0])
    x = as_f64([1.0, 2.0, 3.0])
    _, scaled = SumAndScale()(x)
    np.testing.assert_array_equal(grad(scaled.sum(), x).numpy(), [2.0, 2.0, 2.0])
    x = as_f64([1.0, 2.0, 3.0])
    total, scaled = SumAndScale()(x)
    np.testing.assert_array_equal(grad(total + scaled.sum(), x).numpy(), [3.0, 3.0, 3.0])
    assert SumAndScale.received == [(False, True), (True, False), (False, False)]


def test_an_output_reached_only_through_non_differentiable_ops_still_runs_backward() -> None:
    a, b = as_f64([1.0, 2.0]), as_f64([3.0, 4.0])
    product, total = MulAndAdd()(a, b)
    y = product.sum() + (total > 4).astype("float64").sum() + total.detach().sum()
    ga, gb = grad(y, [a, b])
    np.testing.assert_array_equal(ga.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gb.numpy(), [1.0, 2.0])


def test_an_output_used_twice() -> None:
    x = as_f64([2.0])
    product, total = MulAndAdd()(x, x)
    # (x²)(2x) = 2x³  ->  6x² = 24
    np.testing.assert_array_equal(grad((product * total).sum(), x).numpy(), [24.0])


def test_returning_none_stops_a_gradient() -> None:
    a, b = as_f64([1.0, 2.0]), as_f64([3.0, 4.0])
    ga, gb = grad(OnlyFirstInput()(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [10.0, 10.0])
    assert gb is None


def test_straight_through_estimator() -> None:
    x = as_f64([0.2, 1.7, -0.6])
    y = StraightThroughRound()(x)
    g = grad((y * y).sum(), x)  # d/dx round(x)² taken as 2 round(x)
    np.testing.assert_array_equal(g.numpy(), 2 * np.round([0.2, 1.7, -0.6]))
    np.testing.assert_array_equal(y.numpy(), np.round([0.2, 1.7, -0.6]))


def test_functions_compose() -> None:
    x = as_f64([0.3, 1.6])
    y = StraightThroughRound()(StraightThroughRound()(x * 2) * 3)
    np.testing.assert_array_equal(grad(y.sum(), x).numpy(), [6.0, 6.0])


def test_non_tensor_arguments_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="StraightThroughRound: inputs must be Tensors"):
        StraightThroughRound()(np.ones(2))
    with pytest.raises(TypeError, match="inputs must be Tensors, got float"):
        MulAndAdd()(graphc.tensor([1.0]), 2.0)


class WrongShape(Function):
    def forward(self, x):
        return x * 2

    def backward(self, dy):
        return dy.sum()


def test_a_backward_gradient_of_the_wrong_shape_is_an_error() -> None:
    x = as_f64([1.0, 2.0])
    with pytest.raises(ValueError, match=r"WrongShape.backward: gradient 0 .*\(2,\)"):
        grad(WrongShape()(x).sum(), x)


def test_inside_a_grad_manager() -> None:
    w = graphc.tensor([0.3, 1.6])
    gm = GradManager().attach(w)
    with gm:
        y = StraightThroughRound()(w * 2)
        product, _ = MulAndAdd()(y, w)
        gm.backward(product.sum())
    # product = round(2w) * w: d/dw = 2 w (straight through) + round(2w)
    want = 2 * np.array([0.3, 1.6], np.float32) + np.round([0.6, 3.2])
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-6)


def test_a_function_called_before_recording_is_a_constant() -> None:
    w = graphc.tensor([0.3, 1.6])
    gm = GradManager().attach(w)
    before = StraightThroughRound()(w)
    with gm:
        gm.backward((before * w).sum())
    np.testing.assert_array_equal(w.grad.numpy(), np.round([0.3, 1.6]))
