"""Indexing ops (graphc/ops/indexing.py): index, setitem, gather and the scatter-adds, with
result shapes following NumPy's rules and bounds errors raised as OpError."""

import numpy as np
import pytest

from graphc import interp
from graphc.ir import DTypeError, OpError, ShapeError, buffer_node
from graphc.ops import apply
from graphc.ops.indexing import index_result_shape

RNG = np.random.default_rng(6)


def leaf(data):
    return buffer_node(np.asarray(data), "cpux")


def run(node):
    return interp.run([node])[node.uid]


def numbered(shape):
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


I0 = np.array([2, 0], np.int32)
I1 = np.array([[1], [3]], np.int32)

# (spec, index arrays, the same index in NumPy form)
INDEXES = [
    ((("s", 0, 3, 1), ("s", 1, 4, 2), ("i", 2)), [], (slice(0, 3), slice(1, 4, 2), 2)),
    ((("n",), ("i", 1), ("s", 3, -1, -1), ("s", 0, 5, 1)), [],
     (None, 1, slice(3, None, -1), slice(0, 5))),
    ((("a", 0), ("s", 0, 4, 1), ("s", 0, 5, 1)), [I0], (I0, slice(0, 4), slice(0, 5))),
    ((("a", 0), ("a", 1), ("s", 0, 5, 1)), [I0, I1], (I0, I1, slice(0, 5))),
    # Arrays separated by a slice: the broadcast dimensions go first.
    ((("a", 0), ("s", 0, 4, 1), ("a", 1)), [I0, I1], (I0, slice(0, 4), I1)),
    ((("s", 0, 3, 1), ("i", 1), ("a", 0)), [I1], (slice(0, 3), 1, I1)),
    ((("i", 0), ("s", 0, 4, 1), ("a", 0)), [I0], (0, slice(0, 4), I0)),
]


@pytest.mark.parametrize(("spec", "arrays", "np_index"), INDEXES)
def test_index_shape_and_reference_follow_numpy(spec, arrays, np_index):
    x = numbered((3, 4, 5))
    expected = x[np_index]
    assert index_result_shape(x.shape, spec, [a.shape for a in arrays]) == expected.shape
    node = apply("index", [leaf(x), *map(leaf, arrays)], spec=spec)
    assert node.type.shape == expected.shape
    np.testing.assert_array_equal(run(node), expected)


@pytest.mark.parametrize(("spec", "arrays", "np_index"), INDEXES)
def test_setitem_writes_the_indexed_region(spec, arrays, np_index):
    x = numbered((3, 4, 5))
    value = -1 - numbered(x[np_index].shape)
    expected = x.copy()
    expected[np_index] = value
    node = apply("setitem", [leaf(x), leaf(value), *map(leaf, arrays)], spec=spec)
    np.testing.assert_array_equal(run(node), expected)
    np.testing.assert_array_equal(x, numbered((3, 4, 5)))  # the input is untouched


def test_scatter_add_accumulates_repeated_indices():
    x = np.zeros((4, 2), np.float32)
    rows = np.array([1, 3, 1, 1], np.int32)
    value = numbered((4, 2)) + 1
    node = apply("scatter_add", [leaf(x), leaf(value), leaf(rows)],
                 spec=(("a", 0), ("s", 0, 2, 1)))
    expected = x.copy()
    for k, r in enumerate(rows):  # written out, independently of np.add.at
        expected[r] += value[k]
    np.testing.assert_array_equal(run(node), expected)


def test_index_errors():
    x = leaf(numbered((3, 4)))
    with pytest.raises(ShapeError, match="index: index has 1 entries for a tensor of shape"):
        apply("index", [x], spec=(("i", 0),))
    with pytest.raises(DTypeError, match="index: index arrays must be integers"):
        apply("index", [x, leaf(np.zeros(2, np.float32))], spec=(("a", 0), ("s", 0, 4, 1)))
    with pytest.raises(ShapeError, match="setitem: value of shape"):
        apply("setitem", [x, leaf(np.zeros(3, np.float32))], spec=(("i", 0), ("s", 0, 4, 1)))


def test_index_out_of_bounds_raises_op_error_at_run_time():
    node = apply("index", [leaf(numbered((3, 4))), leaf(np.array([0, 3], np.int32))],
                 spec=(("a", 0), ("s", 0, 4, 1)))
    with pytest.raises(OpError, match="index: .*out of bounds"):
        run(node)


# ---- gather ------------------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, 2])
def test_gather_matches_take_along_axis(axis):
    x = numbered((3, 4, 5))
    index = RNG.integers(0, x.shape[axis], x.shape).astype(np.int32)
    node = apply("gather", [leaf(x), leaf(index)], axis=axis)
    assert node.type.shape == index.shape and node.type.dtype == x.dtype
    np.testing.assert_array_equal(run(node), np.take_along_axis(x, index, axis))


def test_gather_with_an_index_smaller_than_the_input():
    x = numbered((3, 4))
    index = np.array([[3, 3, 0]], np.int32)
    node = apply("gather", [leaf(x), leaf(index)], axis=1)
    np.testing.assert_array_equal(run(node), [[x[0, 3], x[0, 3], x[0, 0]]])


def test_gather_with_a_longer_gathered_axis():
    x = numbered((2, 3))
    index = np.array([[0], [2], [1], [1]], np.int32).T.repeat(2, 0)  # shape (2, 4)
    node = apply("gather", [leaf(x), leaf(index)], axis=1)
    expected = np.array([[x[r, c] for c in index[r]] for r in range(2)])
    np.testing.assert_array_equal(run(node), expected)


@pytest.mark.parametrize("bad", [5, -1])
def test_gather_out_of_bounds_raises_op_error_naming_the_op(bad):
    node = apply("gather", [leaf(numbered((2, 5))), leaf(np.array([[0, bad]], np.int32))],
                 axis=1)
    with pytest.raises(OpError, match=f"gather: index {bad} is out of bounds for axis 1"):
        run(node)


@pytest.mark.parametrize(("index_shape", "axis"), [((3,), 0), ((3, 5), -1), ((3, 6), 0),
                                                   ((3, 2), 2)])
def test_gather_shape_errors(index_shape, axis):
    with pytest.raises(ShapeError, match="gather: cannot gather"):
        apply("gather", [leaf(numbered((3, 5))), leaf(np.zeros(index_shape, np.int32))],
              axis=axis)


def test_gather_requires_integer_indices():
    with pytest.raises(DTypeError, match="gather: index arrays must be integers"):
        apply("gather", [leaf(numbered((3, 5))), leaf(np.zeros((3, 5), np.float32))], axis=0)


def test_scatter_add_axis_is_the_adjoint_of_gather():
    # <gather(x), g> == <x, scatter_add_axis(0, index, g)> for all x and g.
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    index = RNG.integers(0, 4, (3, 6)).astype(np.int32)
    g = RNG.standard_normal((3, 6)).astype(np.float32)
    gathered = run(apply("gather", [leaf(x), leaf(index)], axis=1))
    scattered = run(apply("scatter_add_axis", [leaf(np.zeros_like(x)), leaf(index), leaf(g)],
                          axis=1))
    np.testing.assert_allclose(np.sum(gathered * g), np.sum(x * scattered), rtol=1e-5)
