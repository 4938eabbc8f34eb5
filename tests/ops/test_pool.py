"""Pooling ops: forward against direct loops (padding, both average modes), max-pool
gradient routing (first maximum; ties and NaN), gradients of first and second order
against finite differences, the compiled kernels against the interpreter, errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.autodiff import grad
from graphc.ir import DTypeError, ShapeError, buffer_node
from graphc.ops import apply
from tests.autodiff.gradcheck import check_grad
from tests.ops import conv_reference as ref
from tests.runtime.compiled import assert_same

# (x shape, kernel, stride, padding)
GEOMETRIES = [
    ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 7, 6), (3, 2), (2, 1), (1, 1)),
    ((2, 1, 5, 7), (3, 3), (1, 2), (2, 1)),  # overlapping windows, padding on both sides
]
MODES = ["average", "average_count_exclude_padding"]


def pool(op, x, kernel, stride, padding, **extra):
    return graphc.Tensor._wrap(apply(op, [x._node], kernel=kernel, stride=stride,
                                     padding=padding, **extra))


def t64(a):
    return graphc.tensor(a, dtype="float64")


@pytest.mark.parametrize(("xs", "kernel", "stride", "padding"), GEOMETRIES)
def test_max_pool_forward_and_gradient_match_direct_loops(xs, kernel, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xs)
    y = pool("max_pool2d", t64(x), kernel, stride, padding)
    np.testing.assert_array_equal(y.numpy(), ref.max_pool2d(x, kernel, stride, padding))
    dy = rng.standard_normal(y.shape)
    dx = graphc.Tensor._wrap(apply("max_pool2d_backward", [t64(x)._node, t64(dy)._node],
                                   kernel=kernel, stride=stride, padding=padding))
    np.testing.assert_allclose(dx.numpy(), ref.max_pool2d_grad(x, dy, kernel, stride, padding),
                               rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("xs", "kernel", "stride", "padding"), GEOMETRIES)
def test_avg_pool_forward_matches_direct_loops(xs, kernel, stride, padding, mode):
    x = np.random.default_rng(2).standard_normal(xs)
    got = pool("avg_pool2d", t64(x), kernel, stride, padding, mode=mode).numpy()
    np.testing.assert_allclose(got, ref.avg_pool2d(x, kernel, stride, padding, mode),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_avg_pool_gradients_of_first_and_second_order(mode):
    rng = np.random.default_rng(3)
    _, kernel, stride, padding = GEOMETRIES[2]
    x = rng.standard_normal((1, 2, 5, 6))
    check_grad(lambda t: pool("avg_pool2d", t, kernel, stride, padding, mode=mode), x)

    def grad_of_square(t):  # differentiates avg_pool2d_backward
        y = pool("avg_pool2d", t, kernel, stride, padding, mode=mode)
        return grad((y * y).sum(), [t])[0]

    check_grad(grad_of_square, x)


def test_max_pool_gradients_of_first_and_second_order():
    rng = np.random.default_rng(4)
    _, kernel, stride, padding = GEOMETRIES[1]
    x = rng.permutation(84).reshape(1, 2, 7, 6) / 10.0  # distinct values: no ties
    check_grad(lambda t: pool("max_pool2d", t, kernel, stride, padding), x)

    def grad_times_input(t):  # differentiates max_pool2d_backward: max_pool2d_select
        y = pool("max_pool2d", t, kernel, stride, padding)
        return grad((y * y).sum(), [t])[0] * t

    check_grad(grad_times_input, x)


def test_max_pool_ties_route_the_whole_gradient_to_the_first_maximum():
    # Window 1 holds [1, 3; 3, 2]: its first 3 in row-major order, at (0, 1), gets all
    # of the gradient. Window 2 is all zeros: its top-left element gets it.
    x = t64(np.array([[[[1.0, 3.0, 0.0, 0.0],
                        [3.0, 2.0, 0.0, 0.0]]]]))
    g = grad(pool("max_pool2d", x, (2, 2), (2, 2), (0, 0)).sum(), [x])[0].numpy()
    np.testing.assert_array_equal(g, [[[[0, 1, 1, 0], [0, 0, 0, 0]]]])


def test_max_pool_propagates_nan_and_sends_it_the_gradient():
    x = np.array([[[[1.0, np.nan], [5.0, 2.0]]]])
    xt = t64(x)
    y = pool("max_pool2d", xt, (2, 2), (2, 2), (0, 0))
    g = grad(y.sum(), [xt])[0]
    assert np.isnan(y.numpy()).all()
    np.testing.assert_array_equal(g.numpy(), [[[[0, 1], [0, 0]]]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_kernels_match_the_interpreter(dtype):
    rng = np.random.default_rng(5)
    xs, kernel, stride, padding = GEOMETRIES[2]
    x = graphc.tensor(rng.standard_normal(xs).astype(dtype), dtype=dtype)
    x_ties = graphc.tensor(rng.integers(0, 3, xs).astype(dtype), dtype=dtype)
    outs = []
    for inp in (x, x_ties):
        y = pool("max_pool2d", inp, kernel, stride, padding)
        dy = graphc.tensor(rng.standard_normal(y.shape).astype(dtype), dtype=dtype)
        outs += [y, graphc.Tensor._wrap(apply("max_pool2d_backward", [inp._node, dy._node],
                                              kernel=kernel, stride=stride, padding=padding))]
    for mode in MODES:
        y = pool("avg_pool2d", x, kernel, stride, padding, mode=mode)
        outs += [y, graphc.Tensor._wrap(apply("avg_pool2d_backward", [y._node], mode=mode,
                                              in_hw=xs[2:], kernel=kernel, stride=stride,
                                              padding=padding))]
    compiled = assert_same(*outs)
    assert {k.kind for k in compiled.fused.kernels} == {"library"}


def test_max_pool_nan_in_compiled_kernels():
    x = graphc.tensor(np.array([[[[1.0, np.nan, 7.0, 2.0], [5.0, 2.0, 3.0, np.inf]]]],
                               np.float32))
    y = pool("max_pool2d", x, (2, 2), (2, 2), (0, 0))
    dx = graphc.Tensor._wrap(apply("max_pool2d_backward", [x._node, (y * 0 + 1)._node],
                                   kernel=(2, 2), stride=(2, 2), padding=(0, 0)))
    assert_same(y, dx)


X = buffer_node(np.zeros((2, 3, 6, 6), np.float32), "cpux")
POOL = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0)}


@pytest.mark.parametrize(("op", "attrs", "message"), [
    ("max_pool2d", {**POOL, "padding": (2, 0)},
     r"max_pool2d: padding \(2, 0\) must be smaller than the kernel \(2, 2\)"),
    ("max_pool2d", {**POOL, "kernel": (7, 2)},
     r"kernel \(7, 2\) spans \(7, 2\), larger than the input \(6, 6\)"),
    ("avg_pool2d", {**POOL, "mode": "median"}, r"avg_pool2d: mode must be one of"),
    ("avg_pool2d", {**POOL, "stride": (0, 2), "mode": "average"}, r"stride and dilation >= 1"),
])
def test_inference_errors(op, attrs, message):
    with pytest.raises(ShapeError, match=message):
        apply(op, [X], **attrs)


def test_rank_dtype_and_gradient_shape_errors():
    with pytest.raises(ShapeError, match=r"max_pool2d: input must be 4-D, got shape \(3, 6, 6\)"):
        apply("max_pool2d", [buffer_node(np.zeros((3, 6, 6), np.float32), "cpux")], **POOL)
    with pytest.raises(DTypeError, match="max_pool2d: expects floating-point operands"):
        apply("max_pool2d", [buffer_node(np.zeros((1, 1, 4, 4), np.int32), "cpux")], **POOL)
    dy = buffer_node(np.zeros((2, 3, 2, 3), np.float32), "cpux")
    with pytest.raises(ShapeError, match=r"max_pool2d_backward: output gradient has shape "
                                         r"\(2, 3, 2, 3\), expected \(2, 3, 3, 3\)"):
        apply("max_pool2d_backward", [X, dy], **POOL)
    with pytest.raises(ShapeError, match=r"max_pool2d_select: values to select"):
        apply("max_pool2d_select", [X, dy], **POOL)
