"""Reduction ops (graphc/ops/reduce.py): result shapes and dtypes, errors, and references
against NumPy."""

import itertools

import numpy as np
import pytest

from graphc import interp
from graphc.ir import DTypeError, ShapeError, buffer_node
from graphc.ops import apply
from graphc.ops.reduce import reduced_shape

RNG = np.random.default_rng(5)
REDUCE = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


def leaf(data):
    return buffer_node(np.asarray(data), "cpux")


def run(node):
    return interp.run([node])[node.uid]


AXES_OF_3 = [axes for r in range(1, 4) for axes in itertools.combinations(range(3), r)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", AXES_OF_3)
def test_reduced_shape_matches_numpy(axes, keepdims):
    x = np.zeros((2, 3, 4))
    assert reduced_shape(x.shape, axes, keepdims) == np.sum(x, axis=axes,
                                                            keepdims=keepdims).shape


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", AXES_OF_3)
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reference_and_inference_agree_with_numpy(name, axes, keepdims):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    node = apply(name, [leaf(x)], axes=axes, keepdims=keepdims)
    expected = REDUCE[name](x, axis=axes, keepdims=keepdims)
    assert node.type.shape == expected.shape and node.type.dtype == np.float32
    np.testing.assert_allclose(run(node), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "dtype", "result"), [
    ("sum", np.int32, np.int32), ("prod", np.int32, np.int32), ("max", np.int32, np.int32),
    ("sum", np.bool_, np.int32), ("prod", np.bool_, np.int32), ("max", np.bool_, np.bool_),
    ("min", np.bool_, np.bool_), ("sum", np.float16, np.float16),
    ("argmax", np.float32, np.int32), ("argmin", np.bool_, np.int32),
])
def test_result_dtypes(name, dtype, result):
    x = (RNG.integers(0, 3, (3, 4)) > 0).astype(dtype)
    node = apply(name, [leaf(x)], axes=(1,), keepdims=False)
    assert node.type.dtype == result
    reference = {"argmax": np.argmax, "argmin": np.argmin, **REDUCE}[name]
    np.testing.assert_array_equal(run(node), reference(x, axis=1).astype(result))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reductions_reduce_exactly_one_axis(name, keepdims):
    x = RNG.permutation(12).reshape(3, 4).astype(np.float32)
    for axis in (0, 1):
        node = apply(name, [leaf(x)], axes=(axis,), keepdims=keepdims)
        expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
        np.testing.assert_array_equal(run(node), expected)
    with pytest.raises(ShapeError, match=f"{name}: reduces exactly one axis"):
        apply(name, [leaf(x)], axes=(0, 1), keepdims=keepdims)


@pytest.mark.parametrize("axes", [(2,), (-1,), (0, 0)])
def test_invalid_axes_raise(axes):
    with pytest.raises(ShapeError, match=r"sum: invalid axes"):
        apply("sum", [leaf(np.zeros((2, 3)))], axes=axes, keepdims=False)


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin"])
def test_extremes_over_an_empty_axis_raise(name):
    x = leaf(np.zeros((0, 3), np.float32))
    with pytest.raises(ShapeError, match=f"{name}: cannot reduce over an empty axis"):
        apply(name, [x], axes=(0,), keepdims=False)
    # Reducing the non-empty axis of an empty tensor is fine.
    assert apply(name, [x], axes=(1,), keepdims=False).type.shape == (0,)


def test_sum_and_prod_of_empty_axes_are_identities():
    x = np.zeros((0, 3), np.float32)
    np.testing.assert_array_equal(run(apply("sum", [leaf(x)], axes=(0,), keepdims=False)),
                                  np.zeros(3))
    np.testing.assert_array_equal(run(apply("prod", [leaf(x)], axes=(0,), keepdims=True)),
                                  np.ones((1, 3)))


def test_reductions_reject_non_numeric_dtypes():
    x = buffer_node(np.array(["a", "b"]), "cpux")
    with pytest.raises(DTypeError, match="sum: cannot reduce dtype"):
        apply("sum", [x], axes=(0,), keepdims=False)
