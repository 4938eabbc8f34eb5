"""graphc.autodiff.grad: the VJP transform over the graph (first and second order).

Answers come from closed forms or from central finite differences in float64 on the
reference interpreter (tests/autodiff/gradcheck.py). Per-op rules are in
tests/autodiff/test_vjp_rules.py, GradManager and Function in tests/autodiff/.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import lazy
from graphc.autodiff import grad
from tests.autodiff.gradcheck import as_f64, check_grad, numeric_grads


def test_grad_is_public_as_graphc_grad() -> None:
    assert graphc.grad is grad


def test_default_dy_is_ones_and_a_custom_dy_scales() -> None:
    x = as_f64([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(grad(x * x, x).numpy(), [2.0, 4.0, 6.0])
    dy = as_f64([1.0, 10.0, -1.0])
    np.testing.assert_array_equal(grad(x * x, x, dy).numpy(), [2.0, 40.0, -6.0])
    np.testing.assert_array_equal(grad((x * x).sum(), x, 0.5).numpy(), [1.0, 2.0, 3.0])


def test_a_scalar_or_smaller_dy_is_broadcast_to_y() -> None:
    x = as_f64([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(grad(x * 3.0, x, as_f64([1.0, 2.0])).numpy(),
                                  [[3.0, 6.0], [3.0, 6.0]])


def test_several_outputs_with_their_own_dy() -> None:
    x = as_f64([1.0, 2.0])
    ys = [x * x, (x * 3.0).sum()]
    g = grad(ys, [x], [as_f64([1.0, 1.0]), as_f64(2.0)])[0]
    np.testing.assert_array_equal(g.numpy(), 2 * np.array([1.0, 2.0]) + 6.0)


def test_single_x_gives_one_value_and_a_list_gives_a_list() -> None:
    x, z = as_f64([1.0]), as_f64([2.0])
    assert isinstance(grad((x * 2.0).sum(), x), graphc.Tensor)
    gx, gz = grad((x * 2.0).sum(), [x, z])
    assert gz is None  # unconnected
    np.testing.assert_array_equal(gx.numpy(), [2.0])


def test_a_node_used_several_times_accumulates() -> None:
    x = as_f64([1.5, -2.0])
    h = F.sin(x)
    y = h * h + h * 3.0 + x
    want = 2 * np.sin([1.5, -2.0]) * np.cos([1.5, -2.0]) + 3 * np.cos([1.5, -2.0]) + 1
    np.testing.assert_allclose(grad(y.sum(), x).numpy(), want, rtol=1e-12)


def test_gradient_shapes_equal_input_shapes_under_broadcasting() -> None:
    a, b, c = as_f64(np.ones((2, 1, 3))), as_f64(np.ones((4, 1))), as_f64(2.0)
    ga, gb, gc = grad((a * b * c).sum(), [a, b, c])
    assert (ga.shape, gb.shape, gc.shape) == ((2, 1, 3), (4, 1), ())
    np.testing.assert_array_equal(ga.numpy(), np.full((2, 1, 3), 8.0))
    np.testing.assert_array_equal(gb.numpy(), np.full((4, 1), 12.0))
    assert gc.item() == 24.0


def test_gradients_are_lazy_graph_nodes_marked_as_autodiff() -> None:
    x = as_f64([1.0, 2.0])
    g = grad(F.exp(x).sum(), x)
    assert not g._node.realized
    assert g._node.meta.from_autodiff
    np.testing.assert_allclose(g.numpy(), np.exp([1.0, 2.0]), rtol=1e-12)


def test_an_intermediate_x_is_a_total_derivative_and_passes_it_on() -> None:
    x = as_f64([1.0, 2.0])
    h = x * 3.0
    gx, gh = grad((h * h).sum(), [x, h])
    np.testing.assert_array_equal(gh.numpy(), [6.0, 12.0])   # 2h
    np.testing.assert_array_equal(gx.numpy(), [18.0, 36.0])  # 2h * 3


def test_realizing_inside_keeping_graph_keeps_the_gradient_path() -> None:
    x = as_f64([0.5, 1.0])
    with lazy.keeping_graph():
        y = F.exp(x) * x
        y.numpy()
        g = grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), np.exp([0.5, 1.0]) * [1.5, 2.0], rtol=1e-12)


def test_dy_of_the_wrong_shape_is_a_clear_error() -> None:
    x = as_f64([1.0, 2.0])
    with pytest.raises(graphc.ShapeError, match=r"dy of shape \(3,\).*mul of shape \(2,\)"):
        grad(x * 2.0, x, as_f64([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="2 outputs but 1 output gradients"):
        grad([x * 2.0, x * 3.0], x, [as_f64([1.0, 1.0])])


# ---- second order ---------------------------------------------------------------

def test_second_derivative_of_a_cube_is_6x() -> None:
    x = as_f64([-1.0, 0.5, 2.0])
    first = grad((x ** 3.0).sum(), x)
    np.testing.assert_allclose(grad(first.sum(), x).numpy(), [-6.0, 3.0, 12.0], rtol=1e-12)


@pytest.mark.parametrize("fn,second", [(F.sin, lambda v: -np.sin(v)),
                                       (F.cos, lambda v: -np.cos(v))], ids=["sin", "cos"])
def test_second_derivative_of_sin_and_cos(fn, second) -> None:
    data = np.array([-1.2, 0.3, 2.5])
    x = as_f64(data)
    g2 = grad(grad(fn(x).sum(), x).sum(), x).numpy()
    np.testing.assert_allclose(g2, second(data), rtol=1e-12)
    # And against differences of the (autodiff) first derivative.
    check_grad(lambda t: grad(fn(t).sum(), t), data)


def _mlp_loss(w1, b1, w2, x, target):
    hidden = F.tanh(F.matmul(x, w1) + b1)
    out = F.matmul(hidden, w2)
    return ((out - target) ** 2.0).mean() + F.logsumexp(out, axis=1).sum()


def test_hessian_vector_product_of_a_small_mlp() -> None:
    rng = np.random.default_rng(7)
    params = [rng.normal(size=(3, 4)), rng.normal(size=(4,)), rng.normal(size=(4, 2))]
    x, target = as_f64(rng.normal(size=(5, 3))), as_f64(rng.normal(size=(5, 2)))
    vs = [rng.normal(size=p.shape) for p in params]

    def directional_gradient(*ps):
        gs = grad(_mlp_loss(*ps, x, target), list(ps))
        return sum(((g * as_f64(v)).sum() for g, v in zip(gs, vs)), as_f64(0.0))

    ts = [as_f64(p) for p in params]
    hvp = grad(directional_gradient(*ts), ts)
    # H v = d/dp (grad(p) . v), here by central differences of grad . v.
    want = numeric_grads(directional_gradient, params, np.array(1.0))
    for got, w in zip(hvp, want):
        np.testing.assert_allclose(got.numpy(), w, rtol=1e-6, atol=1e-7)


def _weighted_first_gradient(fn):
    """x -> d/dx sum(fn(x) * w) for a fixed w: a function to differentiate again."""

    def first(*xs):
        y = fn(*xs)
        w = as_f64(np.linspace(0.5, 1.5, y.size).reshape(y.shape))
        gs = grad((y * w).sum(), list(xs))
        return gs[0] * gs[0] if len(gs) == 1 else gs[0].sum() * gs[1].sum()

    return first


def _idx(values):
    return graphc.tensor(np.array(values, dtype=np.int32))


def _setitem_square(a):
    y = a * 1.0
    y[:, [0]] = a[:, 1:] * a[:, 1:]
    return y * y


_r = np.random.default_rng(3)
SECOND_ORDER = {
    "mul_div_pow": (lambda a, b: a * b / (a * a + 1.0) + a ** b, _r.uniform(0.5, 2, 3),
                    _r.uniform(-1, 1, 3)),
    "exp_log_tanh_sigmoid_erf": (lambda a: F.log(F.exp(a) + 1.0) * F.tanh(a)
                                 + F.sigmoid(a) * F.erf(a), _r.uniform(-1, 1, 3)),
    "sqrt_log1p_expm1_tan": (lambda a: F.sqrt(a) * F.log1p(a) * F.expm1(a) + F.tan(a),
                             _r.uniform(0.5, 1.2, 3)),
    "maximum_where": (lambda a, b: F.maximum(a, b) * a + F.where(a > 0, a * a, b ** 3.0),
                      _r.uniform(-1, 1, 4), _r.uniform(-1, 1, 4)),
    "max_prod": (lambda a: a.max(axis=1) * a.sum(axis=1) + a.prod(axis=0).sum(),
                 _r.uniform(-1, 1, (2, 3))),
    "softmax_logsumexp_var": (lambda a: F.softmax(a, axis=1) * F.logsumexp(a, 1, True)
                              + F.var(a, axis=0), _r.uniform(-1, 1, (2, 3))),
    "matmul": (lambda a, b: F.matmul(a * a, b), _r.uniform(-1, 1, (2, 3)),
               _r.uniform(-1, 1, (3, 2))),
    "slices_and_index": (lambda a: a[::-2] * a[::-2] + (a[[0, 0, 2]] * a[[1, 1, 1]]).sum(),
                         _r.uniform(-1, 1, 5)),
    "setitem": (_setitem_square, _r.uniform(-1, 1, (2, 2))),
    "gather_concat": (lambda a, b: F.concat([F.gather(a, 1, _idx([[0, 0], [1, 0]])) ** 2.0,
                                            a * b], 0), _r.uniform(-1, 1, (2, 2)),
                      _r.uniform(-1, 1, (2, 2))),
    "gelu": (F.gelu, _r.uniform(-2, 2, 4)),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_order_through_the_rules_of_the_backward_pass(name: str) -> None:
    fn, *arrays = SECOND_ORDER[name]
    check_grad(_weighted_first_gradient(fn), *arrays, rtol=1e-5, atol=1e-6)


# ---- long chains ----------------------------------------------------------------

def test_a_chain_of_10000_ops_differentiates_without_recursion() -> None:
    x = as_f64([0.5])
    with lazy.keeping_graph():  # the depth limit may realize the chain; keep its inputs
        y = x
        for _ in range(10_000):
            y = y * 1.0001
        g = grad(y.sum(), x)
        np.testing.assert_allclose(g.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_second_order_of_a_1000_op_chain() -> None:
    x = as_f64([0.3])
    # Forward plus backward pass the auto-realize depth limit: keep the graph.
    with lazy.keeping_graph():
        y = x
        for _ in range(1000):
            y = F.sin(y)
        g2 = grad(grad(y.sum(), x).sum(), x)
        g2.numpy()
    # Reference: forward-mode first and second derivatives of the iterated sine.
    v, d1, d2 = 0.3, 1.0, 0.0
    for _ in range(1000):
        v, d1, d2 = np.sin(v), np.cos(v) * d1, -np.sin(v) * d1 * d1 + np.cos(v) * d2
    np.testing.assert_allclose(g2.numpy(), [d2], rtol=1e-9)
