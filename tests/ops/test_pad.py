"""The pad op (graphc/ops/pad.py): inference and its errors, the NumPy reference, the index
map (every output element is the input element it names, or the fill where the guard is
false), compiled kernels that read through it, and its VJP."""

import itertools
import re

import numpy as np
import pytest

from graphc import interp
from graphc.ir import ShapeError, buffer_node
from graphc.ir.kernel_ir import GuardedIndex
from graphc.ops import apply, get_op
from tests.ops.index_trees import evaluate, map_index

MODES = ("constant", "reflect", "edge")


def leaf(data):
    return buffer_node(np.asarray(data), "cpux")


def numbered(shape, dtype=np.float32):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


def pad_node(data, pads, mode, value=0.0):
    return apply("pad", [leaf(data)], pads=pads, mode=mode, value=value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, pads", [((4,), ((2, 3),)), ((3, 4), ((1, 0), (2, 2))),
                                         ((2, 3, 4), ((0, 1), (0, 0), (3, 1))),
                                         ((1, 3), ((0, 0), (1, 2)))])
def test_reference_and_index_map_agree_with_numpy(mode, shape, pads):
    data = numbered(shape)
    node = pad_node(data, pads, mode, -5.0)
    kwargs = {"constant_values": -5.0} if mode == "constant" else {}
    want = np.pad(data, pads, mode=mode, **kwargs)
    out = interp.run([node])[node.uid]
    np.testing.assert_array_equal(out, want)
    assert node.type.shape == want.shape
    exprs, sizes = map_index(node)
    for index in itertools.product(*(range(d) for d in node.type.shape)):
        loop = {f"i{k}": i for k, i in enumerate(index)}
        source = tuple(evaluate(e, loop, sizes) for e in exprs)
        assert all(0 <= s < n for s, n in zip(source, shape)), (index, source)  # safe read
        inside = evaluate(exprs.condition, loop, sizes) if isinstance(exprs, GuardedIndex) \
            else True
        assert (data[source] if inside else exprs.fill) == want[index], (mode, index)


def test_only_constant_mode_is_guarded():
    guarded, _ = map_index(pad_node(numbered((3,)), ((1, 1),), "constant"))
    assert isinstance(guarded, GuardedIndex)
    assert str(guarded.condition) == "i0 >= 1 and i0 - 1 <= n0 - 1"
    plain, _ = map_index(pad_node(numbered((3,)), ((1, 1),), "edge"))
    assert not isinstance(plain, GuardedIndex) and [str(i) for i in plain] == [
        "min(max(i0 - 1, 0), n0 - 1)"]


@pytest.mark.parametrize("pads, mode, message", [
    (((1, 1),), "constant", "one (before, after) pair per axis"),
    (((1, -1), (0, 0)), "constant", "negative pad width"),
    (((3, 0), (0, 0)), "reflect", "must be smaller than the size 3 of axis 0"),
    (((0, 0), (0, 4)), "reflect", "must be smaller than the size 4"),
    (((0, 0), (0, 1)), "wrap", "unknown mode 'wrap'"),
])
def test_inference_errors_name_the_op_and_shapes(pads, mode, message):
    with pytest.raises(ShapeError, match=re.escape(message)) as err:
        pad_node(numbered((3, 4)), pads, mode)
    assert str(err.value).startswith("pad: ") and "test_pad.py" in str(err.value)


def test_padding_an_empty_axis_is_an_error():
    with pytest.raises(ShapeError, match="cannot pad axis 1 of size 0"):
        pad_node(np.zeros((2, 0), np.float32), ((0, 0), (1, 1)), "edge")


def test_ints_and_bools_keep_their_dtype():
    out = interp.run([n := pad_node(numbered((2,), np.int32), ((1, 1),), "constant", 7)])
    np.testing.assert_array_equal(out[n.uid], np.array([7, 0, 1, 7], np.int32))
    b = pad_node(np.array([True, False]), ((0, 2),), "constant", True)
    np.testing.assert_array_equal(interp.run([b])[b.uid], [True, False, True, True])


@pytest.mark.parametrize("mode", MODES)
def test_vjp_adds_each_output_gradient_to_the_element_it_read(mode):
    """The gradient of pad is its adjoint: for g with distinct powers of two, input
    element k receives exactly the sum of g over the outputs that read k."""
    shape, pads = (3, 4), ((2, 1), (1, 3))
    node = pad_node(numbered(shape), pads, mode)
    g = leaf((2.0 ** -np.arange(node.type.size)).reshape(node.type.shape))
    (dx,) = get_op("pad").vjp(node, g)
    got = interp.run([dx])[dx.uid]
    # The adjoint from the reference: pad the element numbers, scatter g by them.
    ids = np.pad(np.arange(12).reshape(shape), pads, mode=mode,
                 **({"constant_values": -1} if mode == "constant" else {}))
    want = np.zeros(12)
    np.add.at(want, ids[ids >= 0], g.buffer[ids >= 0])
    np.testing.assert_array_equal(got, want.reshape(shape))
