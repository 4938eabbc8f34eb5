"""The matmul op (graphc/ops/linalg.py): inference over equal batch dimensions, errors, and
a reference checked against a product written out with einsum."""

import numpy as np
import pytest

from graphc import interp
from graphc.ir import DTypeError, ShapeError, buffer_node
from graphc.ops import apply, get_op

RNG = np.random.default_rng(7)


def leaf(data, device="cpux"):
    return buffer_node(np.asarray(data), device)


@pytest.mark.parametrize(("ashape", "bshape"), [((2, 3), (3, 4)), ((5, 2, 3), (5, 3, 1)),
                                                ((2, 2, 1, 3), (2, 2, 3, 2)), ((0, 3), (3, 2)),
                                                ((2, 0), (0, 3))])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_matmul_reference_matches_einsum(ashape, bshape, dtype):
    a = RNG.integers(-3, 4, ashape).astype(dtype)
    b = RNG.integers(-3, 4, bshape).astype(dtype)
    node = apply("matmul", [leaf(a), leaf(b)])
    expected = np.einsum("...mk,...kn->...mn", a, b)
    assert node.type.shape == expected.shape and node.type.dtype == dtype
    np.testing.assert_array_equal(interp.run([node])[node.uid], expected)


@pytest.mark.parametrize(("ashape", "bshape"), [((2, 3), (4, 5)), ((3,), (3, 2)),
                                                ((2, 3), (3,)), ((2, 2, 3), (3, 3, 4)),
                                                ((1, 2, 3), (4, 3, 5))])
def test_matmul_shape_errors_name_both_shapes(ashape, bshape):
    with pytest.raises(ShapeError) as info:
        apply("matmul", [leaf(np.ones(ashape, np.float32)), leaf(np.ones(bshape, np.float32))])
    message = str(info.value)
    assert message.startswith("matmul: ") and str(ashape) in message and str(bshape) in message


def test_matmul_dtype_and_device_errors():
    f, i = leaf(np.ones((2, 2), np.float32)), leaf(np.ones((2, 2), np.int32))
    with pytest.raises(DTypeError, match="matmul: operand dtypes differ: float32 vs int32"):
        apply("matmul", [f, i])
    b = leaf(np.ones((2, 2), bool))
    with pytest.raises(DTypeError, match="matmul: cannot multiply bool"):
        apply("matmul", [b, b])
    with pytest.raises(DTypeError, match="matmul: operands are on different devices"):
        apply("matmul", [f, leaf(np.ones((2, 2), np.float32), "cpu1")])


def test_matmul_vjp_matches_the_closed_form():
    a = RNG.standard_normal((3, 2, 4)).astype(np.float32)
    b = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    g = RNG.standard_normal((3, 2, 5)).astype(np.float32)
    node = apply("matmul", [leaf(a), leaf(b)])
    ga, gb = get_op("matmul").vjp(node, leaf(g))
    values = interp.run([ga, gb])
    np.testing.assert_allclose(values[ga.uid], g @ b.transpose(0, 2, 1), rtol=1e-5)
    np.testing.assert_allclose(values[gb.uid], a.transpose(0, 2, 1) @ g, rtol=1e-5)


def test_vjp_builds_only_the_wanted_gradients_and_the_weight_layout():
    from tests.autodiff.gradcheck import vjp_with_built_nodes

    x = leaf(RNG.standard_normal((4, 3)).astype(np.float32))
    w = leaf(RNG.standard_normal((2, 3)).astype(np.float32))  # F.linear's (out, in)
    y = apply("matmul", [x, apply("transpose", [w], perm=(1, 0))])
    g = leaf(RNG.standard_normal((4, 2)).astype(np.float32))
    (gw,), built = vjp_with_built_nodes([y], [g], [w])
    # Only w's gradient, as gᵀ·x straight into w's layout: no product for x's gradient
    # and no transpose left on top of the product.
    assert gw.op == "matmul" and gw.type.shape == (2, 3)
    assert [n.op for n in built].count("matmul") == 1
    np.testing.assert_allclose(interp.run([gw], set())[gw.uid],
                               g.buffer.T @ x.buffer, rtol=1e-5)
