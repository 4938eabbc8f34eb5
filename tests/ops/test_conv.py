"""conv2d and its gradient ops: forward against direct loops, gradients of first and
second order against finite differences, the compiled path against the interpreter,
and inference errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.autodiff import grad
from graphc.backends.cpu import cpu_backend
from graphc.ir import DTypeError, ShapeError, buffer_node
from graphc.ops import apply, get_op
from tests.autodiff.gradcheck import check_grad
from tests.ops import conv_reference as ref
from tests.runtime.compiled import assert_same

# (x shape, weight shape, stride, padding, dilation, groups)
GEOMETRIES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 2, 7, 6), (3, 2, 3, 2), (2, 1), (1, 2), (1, 1), 1),
    ((2, 2, 7, 7), (2, 2, 2, 3), (1, 2), (2, 1), (2, 2), 1),
    ((2, 4, 6, 6), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((1, 3, 5, 6), (6, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),  # depthwise, multiplier 2
]


def geo(stride, padding, dilation, groups) -> dict:
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def t64(a: np.ndarray) -> graphc.Tensor:
    return graphc.tensor(a, dtype="float64")


def conv(x, w, **attrs):
    return graphc.Tensor._wrap(apply("conv2d", [x._node, w._node], **attrs))


def data_grad(w, dy, in_hw, **attrs):
    return graphc.Tensor._wrap(apply("conv2d_backward_data", [w._node, dy._node],
                                     in_hw=in_hw, **attrs))


def filter_grad(x, dy, kernel, **attrs):
    return graphc.Tensor._wrap(apply("conv2d_backward_filter", [x._node, dy._node],
                                     kernel=kernel, **attrs))


@pytest.mark.parametrize(("xs", "ws", "stride", "padding", "dilation", "groups"), GEOMETRIES)
def test_forward_matches_direct_loops(xs, ws, stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    got = conv(t64(x), t64(w), **geo(stride, padding, dilation, groups)).numpy()
    np.testing.assert_allclose(got, ref.conv2d(x, w, stride, padding, dilation, groups),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("xs", "ws", "stride", "padding", "dilation", "groups"), GEOMETRIES)
def test_gradient_ops_are_the_adjoints_of_the_forward(xs, ws, stride, padding, dilation,
                                                      groups):
    # <conv(x, w), dy> = <x, backward_data(w, dy)> = <w, backward_filter(x, dy)>
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = ref.conv2d(x, w, stride, padding, dilation, groups)
    dy = rng.standard_normal(y.shape)
    attrs = geo(stride, padding, dilation, groups)
    dx = data_grad(t64(w), t64(dy), xs[2:], **attrs).numpy()
    dw = filter_grad(t64(x), t64(dy), ws[2:], **attrs).numpy()
    inner = float((y * dy).sum())
    assert dx.shape == xs and dw.shape == ws
    np.testing.assert_allclose([(x * dx).sum(), (w * dw).sum()], [inner, inner], rtol=1e-10)


@pytest.mark.parametrize("case", [GEOMETRIES[1], GEOMETRIES[4]])
def test_gradients_match_finite_differences(case):
    xs, ws, *rest = case
    rng = np.random.default_rng(3)
    check_grad(lambda x, w: conv(x, w, **geo(*rest)), rng.standard_normal(xs),
               rng.standard_normal(ws))


def test_second_order_gradients_match_finite_differences():
    # d/dx and d/dw of a function of the input gradient (and of the weight gradient):
    # the VJPs of conv2d_backward_data and conv2d_backward_filter.
    rng = np.random.default_rng(4)
    attrs = geo((2, 1), (1, 1), (1, 1), 2)
    xs, ws = (1, 4, 5, 4), (2, 2, 3, 2)

    def input_grad_of_loss(x, w):
        y = conv(x, w, **attrs)
        return grad((y * y).sum(), [x])[0] * x

    def weight_grad_of_loss(x, w):
        y = conv(x, w, **attrs)
        return grad((y * y * y).sum(), [w])[0]

    for fn in (input_grad_of_loss, weight_grad_of_loss):
        check_grad(fn, rng.standard_normal(xs), rng.standard_normal(ws), rtol=1e-5,
                   atol=1e-6)


@pytest.mark.parametrize("case", [GEOMETRIES[1], GEOMETRIES[3]])
def test_compiled_matches_interpreter(case):
    xs, ws, *rest = case
    rng = np.random.default_rng(5)
    x = graphc.tensor(rng.standard_normal(xs, dtype=np.float32))
    w = graphc.tensor(rng.standard_normal(ws, dtype=np.float32))
    attrs = geo(*rest)
    y = conv(x, w, **attrs)
    dy = graphc.tensor(rng.standard_normal(y.shape, dtype=np.float32))
    compiled = assert_same(y, data_grad(w, dy, xs[2:], **attrs),
                           filter_grad(x, dy, ws[2:], **attrs))
    kinds = {k.name.split("_", 1)[1]: k.kind for k in compiled.fused.kernels}
    assert kinds == {"conv2d": "library", "conv2d_backward_data": "library",
                     "conv2d_backward_filter": "library"}


def test_float16_computes_in_float32():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float16)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float16)
    y = conv(graphc.tensor(x), graphc.tensor(w), **geo((1, 1), (1, 1), (1, 1), 1))
    want = ref.conv2d(x.astype(np.float64), w.astype(np.float64), (1, 1), (1, 1))
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.numpy(), want, rtol=5e-3, atol=5e-3)
    assert_same(y)


def test_ops_have_a_cpu_library_kernel():
    for name in ("conv2d", "conv2d_backward_data", "conv2d_backward_filter", "matmul"):
        assert get_op(name).kind == "opaque"
        assert cpu_backend().library_kernel(name).into is not None  # not the reference


X = buffer_node(np.zeros((2, 4, 6, 6), np.float32), "cpux")
ATTRS = geo((1, 1), (0, 0), (1, 1), 1)


@pytest.mark.parametrize(("inputs", "attrs", "error", "message"), [
    ((X, (3, 4, 3)), ATTRS, ShapeError, r"conv2d: weight must be 4-D, got shape \(3, 4, 3\)"),
    (((4, 6, 6), (3, 4, 3, 3)), ATTRS, ShapeError, r"input must be 4-D"),
    ((X, (3, 2, 3, 3)), ATTRS, ShapeError,
     r"input has 4 channels but weight \(3, 2, 3, 3\) with groups=1 expects 2"),
    ((X, (3, 2, 3, 3)), {**ATTRS, "groups": 2}, ShapeError,
     r"groups=2 must divide the 4 input channels and the 3 output channels"),
    ((X, (3, 4, 7, 3)), ATTRS, ShapeError,
     r"kernel \(7, 3\) spans \(7, 3\), larger than the input \(6, 6\) padded by \(0, 0\)"),
    ((X, (3, 4, 3, 3)), {**ATTRS, "dilation": (3, 1)}, ShapeError,
     r"dilated by \(3, 1\) spans \(7, 3\)"),
    ((X, (3, 4, 3, 3)), {**ATTRS, "stride": (0, 1)}, ShapeError, r"stride and dilation >= 1"),
])
def test_inference_errors_name_the_op_and_shapes(inputs, attrs, error, message):
    nodes = [i if not isinstance(i, tuple) else buffer_node(np.zeros(i, np.float32), "cpux")
             for i in inputs]
    with pytest.raises(error, match=message) as info:
        apply("conv2d", nodes, **attrs)
    assert "test_conv.py" in str(info.value)  # the user's line


def test_dtype_errors():
    w = buffer_node(np.zeros((3, 4, 3, 3), np.float64), "cpux")
    with pytest.raises(DTypeError, match="conv2d: operand dtypes differ: float32 vs float64"):
        apply("conv2d", [X, w], **ATTRS)
    xi = buffer_node(np.zeros((2, 4, 6, 6), np.int32), "cpux")
    wi = buffer_node(np.zeros((3, 4, 3, 3), np.int32), "cpux")
    with pytest.raises(DTypeError, match="expects floating-point operands, got int32"):
        apply("conv2d", [xi, wi], **ATTRS)


def test_gradient_op_shape_errors():
    w = buffer_node(np.zeros((3, 4, 3, 3), np.float32), "cpux")
    dy = buffer_node(np.zeros((2, 3, 5, 4), np.float32), "cpux")
    with pytest.raises(ShapeError, match=r"conv2d_backward_data: output gradient has shape "
                                         r"\(2, 3, 5, 4\), expected \(2, 3, 4, 4\)"):
        apply("conv2d_backward_data", [w, dy], in_hw=(6, 6), **ATTRS)
    with pytest.raises(ShapeError, match=r"conv2d_backward_filter: output gradient"):
        apply("conv2d_backward_filter", [X, dy], kernel=(3, 3), **ATTRS)
