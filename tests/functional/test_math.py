"""Reductions, statistics and matmul (graphc/functional/math.py) against NumPy: every axis,
tuples of axes, negative axes, keepdims, int and bool inputs, 0-d and empty tensors."""

import inspect
import itertools
import os

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import ShapeError

RNG = np.random.default_rng(1)


def next_line() -> str:
    """``file:line`` of the caller's next line: where an error should be reported."""
    frame = inspect.currentframe().f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno + 1}"


def check(actual: graphc.Tensor, expected: np.ndarray, rtol: float = 1e-6, atol: float = 0):
    """Value, dtype and shape of ``actual`` equal NumPy's ``expected``."""
    got = actual.numpy()
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def all_axis_args(ndim: int) -> list:
    """None, every single axis (positive and negative) and every tuple of 2+ axes."""
    args: list = [None]
    args += list(range(ndim)) + list(range(-ndim, 0))
    for r in range(2, ndim + 1):
        args += list(itertools.combinations(range(ndim), r))
    if ndim >= 2:
        args.append((-1, 0))
    return args


X3 = RNG.standard_normal((2, 3, 4)).astype(np.float32)

REDUCTIONS = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", all_axis_args(3))
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_over_every_axis_choice(name, axis, keepdims):
    check(getattr(F, name)(graphc.tensor(X3), axis, keepdims),
          REDUCTIONS[name](X3, axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", all_axis_args(3))
@pytest.mark.parametrize("name", ["mean", "var", "std"])
def test_statistics_over_every_axis_choice(name, axis, keepdims):
    expected = getattr(np, name)(X3, axis=axis, keepdims=keepdims)
    check(getattr(F, name)(graphc.tensor(X3), axis, keepdims), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_int_reductions_stay_int32(name, axis):
    x = RNG.integers(-3, 4, (3, 4)).astype(np.int32)
    expected = REDUCTIONS[name](x, axis=axis).astype(np.int32)  # NumPy sums ints in int64
    check(getattr(F, name)(graphc.tensor(x), axis), expected)


@pytest.mark.parametrize("axis", [None, 1])
def test_bool_reductions(axis):
    x = np.array([[True, False, True], [False, False, True]])
    check(F.sum(graphc.tensor(x), axis), np.sum(x, axis=axis).astype(np.int32))
    check(F.prod(graphc.tensor(x), axis), np.prod(x, axis=axis).astype(np.int32))
    check(F.max(graphc.tensor(x), axis), np.max(x, axis=axis))
    check(F.min(graphc.tensor(x), axis), np.min(x, axis=axis))


@pytest.mark.parametrize("axis", [None, 0, (0, 1)])
@pytest.mark.parametrize("name", ["mean", "var", "std"])
def test_statistics_of_ints_and_bools_are_float32(name, axis):
    ints = RNG.integers(-5, 6, (3, 4)).astype(np.int32)
    expected = getattr(np, name)(ints.astype(np.float64), axis=axis).astype(np.float32)
    check(getattr(F, name)(graphc.tensor(ints), axis), expected, rtol=1e-6)
    bools = ints > 0
    expected = getattr(np, name)(bools.astype(np.float64), axis=axis).astype(np.float32)
    check(getattr(F, name)(graphc.tensor(bools), axis), expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std"])
def test_reductions_of_0d_tensors(name):
    x = np.array(2.5, np.float32)
    expected = np.asarray(getattr(np, name)(x), np.float32)
    check(getattr(F, name)(graphc.tensor(x)), expected)
    check(getattr(F, name)(graphc.tensor(x), 0), expected)
    check(getattr(F, name)(graphc.tensor(x), None, True), expected)


def test_sum_prod_mean_of_empty_tensors():
    x = np.zeros((0, 3), np.float32)
    check(F.sum(graphc.tensor(x)), np.sum(x))
    check(F.sum(graphc.tensor(x), 0), np.sum(x, axis=0))
    check(F.sum(graphc.tensor(x), 1, keepdims=True), np.sum(x, axis=1, keepdims=True))
    check(F.prod(graphc.tensor(x), 0), np.prod(x, axis=0))
    check(F.max(graphc.tensor(x), 1), np.max(x, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"), pytest.warns(RuntimeWarning):
        expected = np.mean(x, axis=0)
    check(F.mean(graphc.tensor(x), 0), expected)


def test_max_over_an_empty_axis_raises():
    with pytest.raises(ShapeError, match="max"):
        F.max(graphc.tensor(np.zeros((0, 3), np.float32)), 0)


def test_reductions_propagate_nan():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -np.inf]], np.float32)
    for name, reference in REDUCTIONS.items():
        check(getattr(F, name)(graphc.tensor(x), 1), reference(x, axis=1))
    check(F.mean(graphc.tensor(x), 1), np.mean(x, axis=1))


@pytest.mark.parametrize("axis", [2, -3, (0, 0), (1, -1)])
def test_invalid_axes_raise_naming_the_op_and_line(axis):
    x = graphc.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ShapeError) as info:
        where = next_line()
        F.sum(x, axis)
    assert str(info.value).startswith("sum:") and where in str(info.value)


def test_methods_match_functions():
    x = graphc.tensor(X3)
    check(x.sum(axis=1), np.sum(X3, axis=1), rtol=1e-6)
    check(x.mean(axis=(0, 2), keepdims=True), np.mean(X3, axis=(0, 2), keepdims=True), rtol=1e-6)
    check(x.max(-1), np.max(X3, -1))


# ---- argmax / argmin ------------------------------------------------------------------

ARG = {"argmax": np.argmax, "argmin": np.argmin}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
@pytest.mark.parametrize("name", sorted(ARG))
def test_arg_reductions_return_int32_indices(name, axis, keepdims):
    # Distinct values, so the index is unambiguous.
    x = RNG.permutation(24).reshape(2, 3, 4).astype(np.float32)
    expected = ARG[name](x, axis=axis, keepdims=keepdims).astype(np.int32)
    check(getattr(F, name)(graphc.tensor(x), axis, keepdims), expected)


@pytest.mark.parametrize("name", sorted(ARG))
def test_arg_reductions_of_ints_ties_and_nan(name):
    ints = np.array([[3, 7, 7, 1], [2, 2, 0, 0]], np.int32)
    check(getattr(F, name)(graphc.tensor(ints), 1), ARG[name](ints, axis=1).astype(np.int32))
    nan = np.array([1.0, np.nan, 3.0, np.nan], np.float32)
    check(getattr(F, name)(graphc.tensor(nan)), np.asarray(ARG[name](nan), np.int32))


@pytest.mark.parametrize("name", sorted(ARG))
def test_arg_reduction_of_0d_tensor_is_index_0(name):
    check(getattr(F, name)(graphc.tensor(5.0)), np.asarray(ARG[name](np.float32(5.0)), np.int32))


@pytest.fixture(params=["interp", "compiled"])
def backend(request, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", request.param)
    return request.param


def megengine_arg_over_axes(fn, x: np.ndarray, axes, keepdims: bool) -> np.ndarray:
    """MegEngine's rule for a tuple of axes, written with NumPy: the axes normalised and
    taken highest first, each step reducing the previous step's result."""
    for a in sorted((a % x.ndim for a in axes), reverse=True):
        x = fn(x, axis=a, keepdims=keepdims)
    return x.astype(np.int32)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [(-1, -2), [0, 2], (1,), (2, 0, 1)])
@pytest.mark.parametrize("name", sorted(ARG))
def test_arg_reductions_over_a_tuple_of_axes(name, axes, keepdims, backend):
    x = RNG.permutation(60).reshape(3, 4, 5).astype(np.float32)
    expected = megengine_arg_over_axes(ARG[name], x, axes, keepdims)
    check(getattr(F, name)(graphc.tensor(x), axes, keepdims), expected)


def test_arg_reduction_over_two_axes_of_a_matrix():
    # By hand: argmax over axis 1 of [[1, 5, 2], [7, 0, 3]] is [1, 0]; argmax of that is 0.
    x = graphc.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert F.argmax(x, axis=(-1, -2)).item() == 0
    assert F.argmin(x, axis=(0, 1)).item() == 0  # argmin over axis 1 is [0, 1]; of that, 0


def test_arg_reduction_rejects_repeated_and_empty_axes():
    with pytest.raises(ShapeError, match="argmax"):
        F.argmax(graphc.tensor(np.ones((2, 3))), (1, -1))
    with pytest.raises(ShapeError, match=r"argmin: axis=\(\) names no axis"):
        F.argmin(graphc.tensor(np.ones((2, 3))), ())


@pytest.mark.parametrize("name", sorted(ARG))
def test_arg_reduction_of_0d_tensor_over_a_tuple_is_index_0(name):
    check(getattr(F, name)(graphc.tensor(5.0), (0,)),
          np.asarray(ARG[name](np.float32(5.0)), np.int32))


def test_argmax_rejects_out_of_range_axis():
    with pytest.raises(ShapeError, match="argmax"):
        F.argmax(graphc.tensor(np.ones((2, 3))), 2)


# ---- matmul -----------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((2, 3), (3, 4)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((3,), (3,)),
    ((5, 2, 3), (5, 3, 4)),
    ((1, 2, 3), (4, 3, 5)),
    ((3,), (2, 3, 4)),
    ((2, 4, 3), (3,)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((0, 3), (3, 2)),
    ((2, 0), (0, 3)),
]


@pytest.mark.parametrize(("ashape", "bshape"), MATMUL_SHAPES)
def test_matmul_follows_numpy_rules(ashape, bshape):
    a = RNG.standard_normal(ashape).astype(np.float32)
    b = RNG.standard_normal(bshape).astype(np.float32)
    check(F.matmul(graphc.tensor(a), graphc.tensor(b)), np.matmul(a, b), rtol=1e-5, atol=1e-6)
    check(graphc.tensor(a) @ graphc.tensor(b), np.matmul(a, b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("transpose_a", "transpose_b"), [(True, False), (False, True),
                                                          (True, True)])
@pytest.mark.parametrize("batch", [(), (3,)])
def test_matmul_transpose_flags(transpose_a, transpose_b, batch):
    a = RNG.standard_normal(batch + (4, 2)).astype(np.float32)
    b = RNG.standard_normal(batch + (4, 2)).astype(np.float32)
    if not transpose_a:
        a = np.swapaxes(a, -1, -2).copy()
    if transpose_b:
        b = np.swapaxes(b, -1, -2).copy()
    expected = np.matmul(np.swapaxes(a, -1, -2) if transpose_a else a,
                         np.swapaxes(b, -1, -2) if transpose_b else b)
    got = F.matmul(graphc.tensor(a), graphc.tensor(b), transpose_a=transpose_a,
                   transpose_b=transpose_b)
    check(got, expected, rtol=1e-5, atol=1e-6)


def test_matmul_of_ints_and_mixed_dtypes():
    a = RNG.integers(-4, 5, (2, 3)).astype(np.int32)
    b = RNG.integers(-4, 5, (3, 2)).astype(np.int32)
    check(F.matmul(graphc.tensor(a), graphc.tensor(b)), a @ b)
    bf = b.astype(np.float32) / 2
    check(F.matmul(graphc.tensor(a), graphc.tensor(bf)), a.astype(np.float32) @ bf, rtol=1e-6)


@pytest.mark.parametrize(("ashape", "bshape", "kwargs"), [
    ((2, 3), (4, 5), {}),
    ((3,), (4,), {}),
    ((2, 2, 3), (3, 3, 5), {}),
    ((3, 2), (2, 3), {"transpose_b": True}),
])
def test_matmul_shape_mismatch_names_op_and_both_shapes(ashape, bshape, kwargs):
    a, b = graphc.tensor(np.ones(ashape)), graphc.tensor(np.ones(bshape))
    with pytest.raises(ShapeError) as info:
        where = next_line()
        F.matmul(a, b, **kwargs)
    message = str(info.value)
    assert message.startswith("matmul:")
    assert str(ashape) in message and str(bshape) in message and where in message


def test_matmul_of_0d_raises():
    with pytest.raises(ShapeError, match="matmul"):
        F.matmul(graphc.tensor(2.0), graphc.tensor(np.ones(3)))


@pytest.mark.parametrize("backend_name", ["interp", "compiled"])
def test_dot(monkeypatch, backend_name) -> None:
    monkeypatch.setenv("GRAPHC_BACKEND", backend_name)
    a = np.random.default_rng(5).standard_normal(7).astype(np.float32)
    b = np.random.default_rng(6).standard_normal(7).astype(np.float32)
    got = F.dot(graphc.tensor(a), graphc.tensor(b)).numpy()
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, np.dot(a.astype(np.float64), b), rtol=1e-5)
    np.testing.assert_allclose(F.dot(graphc.tensor(a), 2.0).numpy(), 2 * a.sum(), rtol=1e-5)
    with pytest.raises(graphc.ShapeError, match=r"dot: expected two vectors.*\(2, 2\)"):
        F.dot(graphc.tensor(np.ones((2, 2))), graphc.tensor(np.ones(2)))
    with pytest.raises(graphc.ShapeError, match=r"\(3,\) and \(2,\)"):
        F.dot(graphc.tensor(np.ones(3)), graphc.tensor(np.ones(2)))
