"""Movement ops (graphc/ops/movement.py): inference and errors, references against NumPy,
and index maps: for every output element, the index map must point at the input element
the reference reads."""

import itertools

import numpy as np
import pytest

from graphc import interp
from graphc.ir import ShapeError, buffer_node
from graphc.ops import apply, broadcast_shapes
from tests.ops.index_trees import evaluate, map_index


def leaf(data):
    return buffer_node(np.asarray(data), "cpux")


def run(node):
    return interp.run([node])[node.uid]


def check_index_map(node) -> None:
    """Every output element equals the input element its index map names."""
    (src,) = node.inputs
    data = src.buffer
    out = run(node)
    exprs, sizes = map_index(node)
    assert len(exprs) == src.type.ndim
    for index in itertools.product(*(range(d) for d in node.type.shape)):
        loop = {f"i{k}": i for k, i in enumerate(index)}
        source = tuple(evaluate(e, loop, sizes) for e in exprs)
        assert data[source] == out[index], (node.op, index, [str(e) for e in exprs])


def numbered(shape):
    """Distinct values, so a wrong index map cannot read a right value by chance."""
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


# ---- broadcast_shapes -----------------------------------------------------------------------

@pytest.mark.parametrize("shapes", [((2, 3), (3,)), ((2, 1), (1, 4)), ((), (5,)),
                                    ((0, 1), (1, 3)), ((4, 1, 3), (2, 1), (1,)), ((),)])
def test_broadcast_shapes_matches_numpy(shapes):
    assert broadcast_shapes(*shapes) == np.broadcast_shapes(*shapes)


def test_broadcast_shapes_error_names_the_shapes():
    with pytest.raises(ShapeError, match=r"shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        broadcast_shapes((2, 3), (4,))


# ---- reshape ------------------------------------------------------------------------------------

RESHAPES = [((2, 3, 4), (6, 4)), ((24,), (2, 3, 4)), ((2, 1, 3), (3, 2)), ((1, 6), (2, 1, 3)),
            ((4, 6), (3, 8)), ((2, 3), (3, 2)), ((), (1, 1)), ((1,), ()), ((2, 2, 1), (4,)),
            ((3, 1, 1, 2), (1, 6, 1)), ((2, 6), (4, 3)), ((0, 3), (3, 0)), ((6,), (6,))]


@pytest.mark.parametrize(("shape", "target"), RESHAPES)
def test_reshape_reference_and_index_map(shape, target):
    x = numbered(shape)
    node = apply("reshape", [leaf(x)], shape=target)
    assert node.type.shape == target
    np.testing.assert_array_equal(run(node), x.reshape(target))
    check_index_map(node)


@pytest.mark.parametrize("target", [(5,), (2, -3), (4, -1)])
def test_reshape_size_mismatch_raises(target):
    with pytest.raises(ShapeError, match=r"reshape: cannot reshape \(2, 3\)"):
        apply("reshape", [leaf(numbered((2, 3)))], shape=target)


# ---- transpose --------------------------------------------------------------------------------

@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
def test_transpose_reference_and_index_map(perm):
    x = numbered((2, 3, 4))
    node = apply("transpose", [leaf(x)], perm=perm)
    np.testing.assert_array_equal(run(node), np.transpose(x, perm))
    check_index_map(node)


@pytest.mark.parametrize("perm", [(0, 0, 1), (0, 1), (0, 1, 3)])
def test_transpose_invalid_permutation_raises(perm):
    with pytest.raises(ShapeError, match="transpose: invalid permutation"):
        apply("transpose", [leaf(numbered((2, 3, 4)))], perm=perm)


# ---- broadcast_to ------------------------------------------------------------------------------

BROADCASTS = [((3,), (2, 3)), ((2, 1), (2, 4)), ((1, 3), (2, 2, 3)), ((), (2, 3)),
              ((1, 1), (3, 1)), ((2, 1, 3), (4, 2, 5, 3)), ((1,), (0,))]


@pytest.mark.parametrize(("shape", "target"), BROADCASTS)
def test_broadcast_reference_and_index_map(shape, target):
    x = numbered(shape)
    node = apply("broadcast_to", [leaf(x)], shape=target)
    np.testing.assert_array_equal(run(node), np.broadcast_to(x, target))
    check_index_map(node)


@pytest.mark.parametrize(("shape", "target"), [((2, 3), (3,)), ((2, 3), (2, 4)),
                                               ((3,), (3, 2))])
def test_broadcast_incompatible_raises(shape, target):
    with pytest.raises(ShapeError, match="broadcast_to: cannot broadcast"):
        apply("broadcast_to", [leaf(numbered(shape))], shape=target)


# ---- slice --------------------------------------------------------------------------------------

SLICES = [
    ((0, 1), (5, 4), (1, 1)),
    ((1, 0), (4, 4), (2, 3)),
    ((4, 3), (-1, -1), (-1, -2)),
    ((3, 0), (0, 4), (-2, 1)),
    ((2, 1), (2, 3), (1, 1)),  # empty along axis 0
]


@pytest.mark.parametrize(("starts", "stops", "steps"), SLICES)
def test_slice_reference_and_index_map(starts, stops, steps):
    x = numbered((5, 4))
    node = apply("slice", [leaf(x)], starts=starts, stops=stops, steps=steps)
    expected = x[tuple(slice(a, b if b >= 0 else None, s)
                       for a, b, s in zip(starts, stops, steps))]
    assert node.type.shape == expected.shape
    np.testing.assert_array_equal(run(node), expected)
    check_index_map(node)


@pytest.mark.parametrize(("starts", "stops", "steps", "message"), [
    ((0,), (2,), (1,), "one \\(start, stop, step\\) per axis"),
    ((0, 0), (2, 2), (0, 1), "step cannot be zero"),
    ((0, 0), (7, 2), (1, 1), "out of range"),
])
def test_slice_errors(starts, stops, steps, message):
    with pytest.raises(ShapeError, match=f"slice: .*{message}"):
        apply("slice", [leaf(numbered((5, 4)))], starts=starts, stops=stops, steps=steps)
