"""concat and to_device (graphc/ops/layout.py): inference, errors and references."""

import numpy as np
import pytest

from graphc import interp
from graphc.ir import DTypeError, ShapeError, buffer_node
from graphc.ops import apply, get_op


def leaf(data, device="cpux"):
    return buffer_node(np.asarray(data), device)


def numbered(shape, start=0):
    return np.arange(start, start + int(np.prod(shape)), dtype=np.float32).reshape(shape)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_concat_matches_numpy(axis):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for k, s in enumerate(shapes):
        s[axis] = k + 1
    parts = [numbered(s, 100 * k) for k, s in enumerate(shapes)]
    node = apply("concat", [leaf(p) for p in parts], axis=axis)
    expected = np.concatenate(parts, axis)
    assert node.type.shape == expected.shape
    np.testing.assert_array_equal(interp.run([node])[node.uid], expected)


def test_concat_with_an_empty_part():
    parts = [numbered((0, 2)), numbered((3, 2))]
    node = apply("concat", [leaf(p) for p in parts], axis=0)
    np.testing.assert_array_equal(interp.run([node])[node.uid], np.concatenate(parts))


def test_concat_errors():
    a = leaf(numbered((2, 3)))
    with pytest.raises(ShapeError, match="concat: axis 2 is out of range"):
        apply("concat", [a, a], axis=2)
    with pytest.raises(ShapeError, match=r"concat: shapes \(2, 3\), \(3, 2\) differ outside"):
        apply("concat", [a, leaf(numbered((3, 2)))], axis=0)
    with pytest.raises(ShapeError, match="concat: shapes"):
        apply("concat", [a, leaf(numbered((2, 3, 1)))], axis=0)
    with pytest.raises(DTypeError, match="concat: operand dtypes differ"):
        apply("concat", [a, leaf(np.zeros((2, 3), np.int32))], axis=0)
    with pytest.raises(DTypeError, match="concat: operands are on different devices"):
        apply("concat", [a, leaf(numbered((2, 3)), "cpu1")], axis=0)


def test_to_device_changes_only_the_device_and_copies():
    x = leaf(numbered((2, 3)), "cpu0")
    node = apply("to_device", [x], device="cpu1")
    assert node.type == x.type._replace(device="cpu1")
    out = interp.run([node])[node.uid]
    np.testing.assert_array_equal(out, x.buffer)
    assert not np.shares_memory(out, x.buffer)


def test_layout_ops_are_opaque():
    assert get_op("concat").kind == "opaque" and get_op("to_device").kind == "opaque"
