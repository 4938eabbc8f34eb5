"""Creation, shape and joining functions (graphc/functional/tensor.py) against NumPy."""

import inspect
import os

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import OpError, ShapeError

RNG = np.random.default_rng(3)


def next_line() -> str:
    """``file:line`` of the caller's next line: where an error should be reported."""
    frame = inspect.currentframe().f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno + 1}"


def check(actual: graphc.Tensor, expected: np.ndarray, rtol: float = 0, atol: float = 0):
    """Value, dtype and shape of ``actual`` equal NumPy's ``expected``."""
    got = actual.numpy()
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def arange(*shape, dtype=np.float32):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


@pytest.fixture(params=["interp", "compiled"])
def backend(request, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", request.param)
    return request.param


# ---- creation ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(), 3, (2, 3), (0, 2), [2, 1]])
def test_zeros_and_ones(shape):
    check(F.zeros(shape), np.zeros(shape, np.float32))
    check(F.ones(shape), np.ones(shape, np.float32))
    check(F.zeros(shape, dtype="int32"), np.zeros(shape, np.int32))
    check(F.ones(shape, dtype=bool), np.ones(shape, bool))


@pytest.mark.parametrize(("value", "dtype"), [(3, np.int32), (2.5, np.float32),
                                              (True, np.bool_), (np.nan, np.float32),
                                              (-np.inf, np.float32)])
def test_full_infers_dtype_from_the_value(value, dtype):
    check(F.full((2, 3), value), np.full((2, 3), value, dtype))
    check(F.full((), value), np.full((), value, dtype))


def test_full_with_explicit_dtype_and_shape_forms():
    check(F.full(4, 2, dtype="float16"), np.full(4, 2, np.float16))
    check(F.full(np.array([2, 2]), 1.5), np.full((2, 2), 1.5, np.float32))
    check(F.full(graphc.tensor([1, 3]), 7), np.full((1, 3), 7, np.int32))


def test_full_rejects_negative_dimensions():
    with pytest.raises(ShapeError, match="full"):
        F.full((2, -1), 0.0)


@pytest.mark.parametrize("data", [np.array([[1.5, -2.0]], np.float32),
                                  np.array([1, 2, 3], np.int32), np.array([True, False]),
                                  np.zeros((0, 2), np.float16), np.array(4.0, np.float32)])
def test_like_constructors_keep_shape_and_dtype(data):
    x = graphc.tensor(data)
    check(F.zeros_like(x), np.zeros_like(data))
    check(F.ones_like(x), np.ones_like(data))
    check(F.full_like(x, 1), np.full_like(data, 1))
    check(F.zeros_like(data), np.zeros_like(data))  # arrays are accepted too


@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 0, -0.3), (0.5, 3.2, 0.7), (-3, 3, 2),
                                  (3, 3), (4, 1)])
def test_arange_matches_numpy_float32(args):
    check(F.arange(*args), np.arange(*args, dtype=np.float32))


def test_arange_with_int_dtype():
    check(F.arange(1, 10, 3, dtype="int32"), np.arange(1, 10, 3, dtype=np.int32))


@pytest.mark.parametrize("args", [(0, 1, 5), (-2, 3, 1), (1, 0, 4), (0, 1, 0)])
def test_linspace(args):
    check(F.linspace(*args), np.linspace(*args).astype(np.float32), rtol=1e-7)


@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2), (0,)])
def test_eye(args):
    check(F.eye(*args), np.eye(*args, dtype=np.float32))
    check(F.eye(*args, dtype="int32"), np.eye(*args, dtype=np.int32))


@pytest.mark.parametrize(("shape", "expected"), [
    ([3, 4], (3, 4)), ((2, 5), (2, 5)), ([3], (3, 3)), (np.array([4, 2]), (4, 2)),
])
def test_eye_takes_the_shape_as_a_sequence(shape, expected):
    check(F.eye(shape), np.eye(*expected, dtype=np.float32))
    check(F.eye(graphc.tensor(np.asarray(shape, np.int32))), np.eye(*expected, dtype=np.float32))


def test_eye_takes_a_tensor_shape_and_tensor_sizes():
    x = graphc.tensor(np.zeros((2, 3), np.float32))
    check(F.eye(x.shape), np.eye(2, 3, dtype=np.float32))
    check(F.eye(graphc.tensor(3)), np.eye(3, dtype=np.float32))
    check(F.eye(2, graphc.tensor(4), dtype="int32"), np.eye(2, 4, dtype=np.int32))


def test_eye_rejects_bad_shapes():
    with pytest.raises(ShapeError, match=r"eye: the shape must have one or two sizes"):
        F.eye([1, 2, 3])
    with pytest.raises(TypeError, match="eye: a size must be"):
        F.eye(2, "three")


@pytest.mark.parametrize("make", [F.zeros, F.ones])
def test_zeros_and_ones_take_any_shape_form(make):
    x = graphc.tensor(np.zeros((2, 3), np.float32))
    expected = np.full((2, 3), 1.0 if make is F.ones else 0.0, np.float32)
    for shape in ([2, 3], (2, 3), x.shape, graphc.tensor([2, 3]), np.array([2, 3]),
                  (graphc.tensor(2), 3)):
        check(make(shape), expected)


def test_full_with_a_0d_tensor_value(backend):
    check(F.full([2, 2], graphc.tensor(1.5)), np.full((2, 2), 1.5, np.float32))
    check(F.full((3,), graphc.tensor(2), dtype="float32"), np.full(3, 2.0, np.float32))
    with pytest.raises(ShapeError, match="full: the fill value must be a scalar"):
        F.full((2,), graphc.tensor([1.0, 2.0]))


def test_copy_is_a_new_tensor_with_the_same_value():
    data = arange(2, 3)
    x = graphc.tensor(data)
    y = F.copy(x)
    y += 1
    check(x, data)
    check(y, data + 1)


def test_copy_to_another_device():
    x = graphc.tensor(arange(2, 2), device="cpu0")
    y = F.copy(x, "cpu1")
    assert y.device == "cpu1" and x.device == "cpu0"
    check(y, arange(2, 2))
    assert F.copy(x, "cpu0").device == "cpu0"
    with pytest.raises(ValueError, match="invalid device"):
        F.copy(x, "tpu0")


# ---- reshape and friends ------------------------------------------------------------------

@pytest.mark.parametrize("target", [(3, 4), (-1,), (2, -1, 3), (4, 3, 1), -1, [12], (1, 12)])
def test_reshape(target):
    data = arange(2, 6)
    check(F.reshape(graphc.tensor(data), target), data.reshape(target))


def test_reshape_shape_as_tensor_or_array_and_method_forms():
    data = arange(2, 6)
    x = graphc.tensor(data)
    check(F.reshape(x, graphc.tensor([3, -1])), data.reshape(3, -1))
    check(F.reshape(x, np.array([4, 3])), data.reshape(4, 3))
    check(x.reshape(6, 2), data.reshape(6, 2))
    check(x.reshape((-1, 4)), data.reshape(-1, 4))


def test_reshape_0d_and_empty():
    check(F.reshape(graphc.tensor([5.0]), ()), np.array(5.0, np.float32))
    check(F.reshape(graphc.tensor(7.0), (1, 1)), np.full((1, 1), 7.0, np.float32))
    empty = np.zeros((0, 3), np.float32)
    check(F.reshape(graphc.tensor(empty), (3, 0)), empty.reshape(3, 0))
    check(F.reshape(graphc.tensor(empty), (-1, 3)), empty.reshape(-1, 3))


@pytest.mark.parametrize("target", [(-1, -1), (5, -1), (4, 4)])
def test_reshape_errors_name_the_op_and_line(target):
    x = graphc.tensor(arange(12))
    with pytest.raises(ShapeError) as info:
        where = next_line()
        F.reshape(x, target)
    assert "reshape" in str(info.value) and where in str(info.value)


@pytest.mark.parametrize("pattern", [(1, 0, 2), (2, 0, 1), (-1, 0, 1), (0, 1, 2)])
def test_transpose_permutes_like_numpy(pattern):
    data = arange(2, 3, 4)
    check(F.transpose(graphc.tensor(data), pattern), np.transpose(data, pattern))


def test_transpose_with_x_inserts_axes():
    data = arange(2, 3)
    check(F.transpose(graphc.tensor(data), (1, "x", 0)), data.T[:, None, :])
    check(F.transpose(graphc.tensor(data), ("x", 0, 1, "x")), data[None, :, :, None])
    check(F.transpose(graphc.tensor(np.float32(3.0)), ("x",)), np.array([3.0], np.float32))


def test_transpose_method_and_T():
    data = arange(2, 3, 4)
    x = graphc.tensor(data)
    check(x.T, data.T)
    check(x.transpose(0, 2, 1), data.transpose(0, 2, 1))
    check(x.transpose((2, 1, 0)), data.transpose(2, 1, 0))


@pytest.mark.parametrize("pattern", [(0, 0), (0,), (0, 1, 2)])
def test_transpose_rejects_invalid_patterns(pattern):
    with pytest.raises(ShapeError, match="transpose"):
        F.transpose(graphc.tensor(arange(2, 3)), pattern)


def test_identity_transpose_result_is_not_an_alias():
    data = arange(2, 3)
    x = graphc.tensor(data)
    y = F.transpose(x, (0, 1))
    y += 1
    check(x, data)


@pytest.mark.parametrize(("shape", "target"), [((3,), (2, 3)), ((2, 1), (2, 4)),
                                               ((1, 3), (2, 2, 3)), ((), (2, 2)),
                                               ((1,), (0,)), ((2, 3), (2, 3))])
def test_broadcast_to(shape, target):
    data = arange(*shape)
    check(F.broadcast_to(graphc.tensor(data), target), np.broadcast_to(data, target))


def test_broadcast_to_none_keeps_a_dimension():
    data = arange(2, 1)
    check(F.broadcast_to(graphc.tensor(data), (3, None, 4)), np.broadcast_to(data, (3, 2, 4)))


@pytest.mark.parametrize("target", [(2, -1), (None, 2, 1)])
def test_broadcast_to_rejects_negative_and_leading_none(target):
    with pytest.raises(ValueError, match="broadcast_to"):
        F.broadcast_to(graphc.tensor(arange(2, 1)), target)


@pytest.mark.parametrize("target", [(3, 3), (3,)])
def test_broadcast_to_incompatible_shape(target):
    with pytest.raises(ShapeError, match="broadcast"):
        F.broadcast_to(graphc.tensor(arange(2, 3)), target)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3, (0, 1), (0, -1), (1, 3)])
def test_expand_dims(axis):
    data = arange(2, 3)
    check(F.expand_dims(graphc.tensor(data), axis), np.expand_dims(data, axis))


def test_expand_dims_out_of_range():
    with pytest.raises(ShapeError, match="expand_dims"):
        F.expand_dims(graphc.tensor(arange(2, 3)), 4)


@pytest.mark.parametrize("axis", [None, 0, 2, -1, (0, 3), (-4, -2)])
def test_squeeze(axis):
    data = arange(1, 2, 1, 1)
    check(F.squeeze(graphc.tensor(data), axis), np.squeeze(data, axis))


def test_squeeze_of_0d_and_all_ones():
    check(F.squeeze(graphc.tensor(np.ones((1, 1), np.float32))), np.array(1.0, np.float32))
    check(F.squeeze(graphc.tensor(np.float32(2.0))), np.array(2.0, np.float32))


def test_squeezing_a_non_unit_axis_raises():
    with pytest.raises(ShapeError) as info:
        where = next_line()
        F.squeeze(graphc.tensor(arange(1, 2)), 1)
    assert "squeeze" in str(info.value) and where in str(info.value)


@pytest.mark.parametrize(("start", "end"), [(0, -1), (1, -1), (0, 1), (1, 2), (2, 2), (-2, -1)])
def test_flatten(start, end):
    data = arange(2, 3, 4, 5)
    s, e = start % 4, end % 4
    expected = data.reshape(data.shape[:s] + (-1,) + data.shape[e + 1:])
    check(F.flatten(graphc.tensor(data), start, end), expected)
    check(graphc.tensor(data).flatten(start, end), expected)


def test_flatten_0d_and_empty():
    check(F.flatten(graphc.tensor(np.float32(2.0))), np.array([2.0], np.float32))
    check(F.flatten(graphc.tensor(np.zeros((2, 0, 3), np.float32))), np.zeros(0, np.float32))


# ---- joining and splitting -------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    parts = [arange(2, 3), arange(2, 3) + 10, arange(2, 3) - 5]
    check(F.concat([graphc.tensor(p) for p in parts], axis), np.concatenate(parts, axis))


def test_concat_of_unequal_lengths_and_empty_parts():
    parts = [arange(1, 3), np.zeros((0, 3), np.float32), arange(4, 3)]
    check(F.concat([graphc.tensor(p) for p in parts]), np.concatenate(parts))


def test_concat_of_one_tensor_returns_it():
    x = graphc.tensor(arange(2, 2))
    check(F.concat([x]), arange(2, 2))


def test_concat_promotes_dtypes():
    ints, floats = np.array([1, 2], np.int32), np.array([0.5], np.float32)
    check(F.concat([graphc.tensor(ints), graphc.tensor(floats)]),
          np.concatenate([ints.astype(np.float32), floats]))
    bools = np.array([True])
    check(F.concat([graphc.tensor(bools), graphc.tensor(ints)]),
          np.concatenate([bools.astype(np.int32), ints]))


def test_concat_accepts_arrays_and_lists():
    check(F.concat([np.array([1.0], np.float32), graphc.tensor([2.0])]),
          np.array([1.0, 2.0], np.float32))


def test_concat_joins_python_scalars_and_0d_tensors_as_shape_1(backend):
    # BERT's F.concat([shape[:-2], self.all_head_size]): a size appended to a shape.
    shape = graphc.tensor(np.array([8, 128, 12, 64], np.int32))
    check(F.concat([shape[:-2], 768]), np.array([8, 128, 768], np.int32))
    check(F.concat([shape[:-1], (12, 64)]), np.array([8, 128, 12, 12, 64], np.int32))
    check(F.concat([graphc.tensor(1.0), graphc.tensor([2.0, 3.0]), 4.0]),
          np.array([1.0, 2.0, 3.0, 4.0], np.float32))
    check(F.concat([graphc.tensor(2), graphc.tensor(5)]), np.array([2, 5], np.int32))
    check(F.concat([graphc.tensor([1.5]), 2]), np.array([1.5, 2.0], np.float32))


def test_concat_places_scalars_on_the_tensors_device():
    out = F.concat([graphc.tensor([1.0], device="cpu1"), 2.0])
    assert out.device == "cpu1"
    check(out, np.array([1.0, 2.0], np.float32))


def test_concat_and_stack_need_a_list():
    for fn in (F.concat, F.stack):
        with pytest.raises(ValueError, match=f"{fn.__name__}: expects a non-empty list"):
            fn([])
        with pytest.raises(ValueError, match=f"{fn.__name__}: expects a non-empty list"):
            fn(graphc.tensor([1.0, 2.0]))


def test_stack_of_python_scalars_and_0d_tensors(backend):
    check(F.stack([1, graphc.tensor(2), 3]), np.array([1, 2, 3], np.int32))
    check(F.stack([graphc.tensor(1.5), 2]), np.array([1.5, 2.0], np.float32))


def test_concat_shape_mismatch_raises():
    with pytest.raises(ShapeError, match="concat"):
        F.concat([graphc.tensor(arange(2, 3)), graphc.tensor(arange(2, 4))], 0)


def test_concat_on_different_devices_needs_device_argument():
    a = graphc.tensor([1.0], device="cpu0")
    b = graphc.tensor([2.0], device="cpu1")
    with pytest.raises(RuntimeError, match="different devices"):
        F.concat([a, b])
    out = F.concat([a, b], device="cpu1")
    assert out.device == "cpu1"
    check(out, np.array([1.0, 2.0], np.float32))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack(axis):
    parts = [arange(2, 3), arange(2, 3) * 2, arange(2, 3) * 3]
    check(F.stack([graphc.tensor(p) for p in parts], axis), np.stack(parts, axis))


def test_stack_of_0d_tensors_and_shape_mismatch():
    check(F.stack([graphc.tensor(1.0), graphc.tensor(2.0)]), np.array([1.0, 2.0], np.float32))
    with pytest.raises(ShapeError, match="stack"):
        F.stack([graphc.tensor([1.0]), graphc.tensor([1.0, 2.0])])


@pytest.mark.parametrize(("sections", "axis"), [(3, 0), (2, 1), (1, 0), (4, -1), (6, 0)])
def test_split_into_equal_sections(sections, axis):
    data = arange(6, 4)
    pieces = F.split(graphc.tensor(data), sections, axis)
    expected = np.split(data, sections, axis)
    assert len(pieces) == len(expected)
    for got, want in zip(pieces, expected):
        check(got, want)


@pytest.mark.parametrize(("points", "axis"), [([1, 4], 0), ([2], 1), ((1, 2, 5), 0), ([3], -1)])
def test_split_at_points(points, axis):
    data = arange(6, 4)
    pieces = F.split(graphc.tensor(data), points, axis)
    expected = np.split(data, list(points), axis)
    assert len(pieces) == len(expected)
    for got, want in zip(pieces, expected):
        check(got, want)


@pytest.mark.parametrize(("size", "sections"), [(5, 2), (10, 3), (10, 4), (7, 7), (11, 5)])
def test_split_into_uneven_sections_as_array_split(size, sections, backend):
    # MegEngine's section sizes are np.array_split's: the first size % n one longer.
    data = arange(size, 2)
    pieces = F.split(graphc.tensor(data), sections)
    expected = np.array_split(data, sections)
    assert [p.shape for p in pieces] == [e.shape for e in expected]
    for got, want in zip(pieces, expected):
        check(got, want)


def test_split_as_megengines_test_split_basic(backend):
    # Size 5 into 2 sections is (3, 2), the same pieces as the split point [3].
    data = RNG.random((2, 3, 4, 5)).astype(np.float32)
    x = graphc.tensor(data)
    by_count, by_point = F.split(x, 2, axis=3), F.split(x, [3], axis=3)
    expected = np.split(data, [3, 5], axis=3)
    assert len(by_count) == len(by_point) == 2
    for i in range(2):
        check(by_count[i], expected[i])
        check(by_point[i], expected[i])
    with pytest.raises(ValueError):
        F.split(x, 4)
    with pytest.raises(ValueError, match=r"^Invalid nsplits_or_secions: \[3, 2, 5\]$"):
        F.split(x, [3, 2, 5], axis=3)


def test_split_into_more_sections_than_elements_raises():
    with pytest.raises(ValueError, match="split: the size 3 of axis 0 cannot be split into 4"):
        F.split(graphc.tensor(arange(3)), 4)
    with pytest.raises(ValueError, match="positive"):
        F.split(graphc.tensor(arange(3)), 0)


@pytest.mark.parametrize("points", [[0, 2], [2, 2], [2, 6], [0, 0, 6]])
def test_split_points_may_repeat_or_touch_the_ends(points):
    # MegEngine checks only that the points are non-decreasing within [0, size].
    data = arange(6)
    pieces = F.split(graphc.tensor(data), points)
    expected = np.split(data, points)
    assert [p.shape for p in pieces] == [e.shape for e in expected]
    for got, want in zip(pieces, expected):
        check(got, want)


@pytest.mark.parametrize("points", [[3, 2, 5], [7], [-1, 2]])
def test_split_invalid_points_raise(points):
    with pytest.raises(ValueError) as info:
        F.split(graphc.tensor(arange(6)), points)
    assert str(info.value) == f"Invalid nsplits_or_secions: {points}"


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_matches_take_along_axis(axis):
    data = arange(3, 4)
    index = RNG.integers(0, data.shape[axis], (3, 4)).astype(np.int32)
    check(F.gather(graphc.tensor(data), axis, graphc.tensor(index)),
          np.take_along_axis(data, index, axis))


def test_gather_with_a_smaller_index():
    data = arange(3, 4)
    index = np.array([[3, 0], [1, 1]], np.int32)
    expected = np.take_along_axis(data[:2, :], index, 1)
    check(F.gather(graphc.tensor(data), 1, graphc.tensor(index)), expected)


@pytest.mark.parametrize("bad", [4, -1])
def test_gather_out_of_bounds_raises_op_error_at_realization(bad):
    x = graphc.tensor(arange(2, 4))
    where = next_line()
    y = F.gather(x, 1, graphc.tensor(np.array([[0, bad], [1, 2]], np.int32)))
    with pytest.raises(OpError) as info:
        y.numpy()
    message = str(info.value)
    assert message.startswith("gather:") and str(bad) in message and where in message


@pytest.mark.parametrize("k", [0, 1, 2, -1, -3])
def test_diag_of_a_vector_builds_a_matrix(k):
    data = np.array([1, 2, 3], np.int32)
    check(F.diag(graphc.tensor(data), k), np.diag(data, k))


@pytest.mark.parametrize("k", [0, 1, 3, -1, -2, 5, -5])
def test_diag_of_a_matrix_takes_a_diagonal(k):
    data = arange(3, 4)
    check(F.diag(graphc.tensor(data), k), np.diag(data, k))


def test_diag_rejects_other_ranks():
    with pytest.raises(ShapeError, match="diag"):
        F.diag(graphc.tensor(arange(2, 2, 2)))
