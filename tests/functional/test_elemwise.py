"""Elementwise functions (graphc/functional/elemwise.py) against NumPy: arithmetic, math,
comparisons, logic, where and clip, with broadcasting, 0-d and empty tensors, NaN and Inf."""

import inspect
import math
import os

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import ShapeError

RNG = np.random.default_rng(0)

# Shape pairs that broadcast, including 0-d and empty operands.
BROADCAST_PAIRS = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((2, 1), (1, 4)),
    ((), (2, 3)),
    ((4, 1, 3), (2, 1)),
    ((0, 3), (1, 3)),
    ((0,), ()),
]
SHAPES = [(), (0,), (5,), (2, 3), (2, 0, 3)]


def next_line() -> str:
    """``file:line`` of the caller's next line: where an error should be reported."""
    frame = inspect.currentframe().f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno + 1}"


def randn(shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def check(actual: graphc.Tensor, expected: np.ndarray, rtol: float = 1e-6, atol: float = 0):
    """Value, dtype and shape of ``actual`` equal NumPy's ``expected``."""
    got = actual.numpy()
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


# ---- unary math -------------------------------------------------------------------

def _positive(shape):
    return RNG.uniform(0.1, 4.0, shape).astype(np.float32)


def _any(shape):
    return (RNG.standard_normal(shape) * 2).astype(np.float32)


def _above_minus_one(shape):
    return RNG.uniform(-0.9, 3.0, shape).astype(np.float32)


def _tan_domain(shape):
    return RNG.uniform(-1.4, 1.4, shape).astype(np.float32)


UNARY = {
    # name: (NumPy reference, input generator, rtol)
    "exp": (np.exp, _any, 1e-6),
    "log": (np.log, _positive, 1e-6),
    "log1p": (np.log1p, _above_minus_one, 1e-6),
    "expm1": (np.expm1, _any, 1e-6),
    "sqrt": (np.sqrt, _positive, 1e-6),
    "sin": (np.sin, _any, 1e-6),
    "cos": (np.cos, _any, 1e-6),
    "tan": (np.tan, _tan_domain, 1e-5),
    "tanh": (np.tanh, _any, 1e-6),
    "floor": (np.floor, _any, 0),
    "ceil": (np.ceil, _any, 0),
    "round": (np.round, _any, 0),
    "neg": (np.negative, _any, 0),
    "abs": (np.abs, _any, 0),
    "sign": (np.sign, _any, 0),
    "square": (np.square, _any, 1e-6),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_numpy(name, shape):
    reference, make, rtol = UNARY[name]
    x = make(shape)
    check(getattr(F, name)(graphc.tensor(x)), reference(x), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("shape", [(), (0,), (7,)])
def test_erf_matches_math_erf(shape):
    x = _any(shape)
    expected = np.array([math.erf(v) for v in x.ravel().tolist()], np.float32).reshape(shape)
    check(F.erf(graphc.tensor(x)), expected, rtol=1e-6, atol=1e-7)


def test_sigmoid_matches_closed_form_and_is_stable_in_both_tails():
    x = np.array([-1000.0, -50.0, -3.0, 0.0, 2.5, 50.0, 1000.0], np.float32)
    with np.errstate(over="ignore"):
        expected = (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    got = F.sigmoid(graphc.tensor(x)).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-30)


def test_float_functions_of_ints_compute_in_float32():
    x = np.array([1, 4, 9], np.int32)
    check(F.sqrt(graphc.tensor(x)), np.sqrt(x).astype(np.float32))
    check(F.exp(graphc.tensor(x)), np.exp(x).astype(np.float32))
    check(F.floor(graphc.tensor(x)), x.astype(np.float32))


def test_float16_stays_float16():
    x = randn(4, np.float16)
    check(F.exp(graphc.tensor(x)), np.exp(x), rtol=1e-3)


@pytest.mark.parametrize("name", ["neg", "abs", "sign", "square"])
def test_numeric_unary_keeps_int32(name):
    x = np.array([-3, 0, 2, 7], np.int32)
    check(getattr(F, name)(graphc.tensor(x)), UNARY[name][0](x))


def test_special_values_of_unary_functions():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5], np.float32)
    for name in ("floor", "ceil", "round", "sign", "abs", "exp", "tanh", "neg"):
        check(getattr(F, name)(graphc.tensor(x)), UNARY[name][0](x))
    check(F.isnan(graphc.tensor(x)), np.isnan(x))
    check(F.isinf(graphc.tensor(x)), np.isinf(x))
    with np.errstate(divide="ignore"):
        expected_log = np.log(np.abs(x))
    check(F.log(graphc.tensor(np.abs(x))), expected_log)


def test_isnan_isinf_of_ints_are_all_false():
    x = np.array([0, 1, -5], np.int32)
    check(F.isnan(graphc.tensor(x)), np.isnan(x))
    check(F.isinf(graphc.tensor(x)), np.isinf(x))


# ---- binary arithmetic --------------------------------------------------------------

BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.true_divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
}


@pytest.mark.parametrize(("ashape", "bshape"), BROADCAST_PAIRS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasts_like_numpy(name, ashape, bshape):
    a, b = randn(ashape), randn(bshape) + 3.0
    fn = getattr(F, name)
    check(fn(graphc.tensor(a), graphc.tensor(b)), BINARY[name](a, b))
    check(fn(graphc.tensor(b), graphc.tensor(a)), BINARY[name](b, a))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum", "minimum"])
def test_int_arithmetic_stays_int32(name):
    a = RNG.integers(-9, 9, (3, 4)).astype(np.int32)
    b = RNG.integers(-9, 9, (4,)).astype(np.int32)
    check(getattr(F, name)(graphc.tensor(a), graphc.tensor(b)), BINARY[name](a, b))


def test_div_of_ints_is_float32():
    a, b = np.array([1, 7, -3], np.int32), np.array([2, 2, 4], np.int32)
    check(F.div(graphc.tensor(a), graphc.tensor(b)), (a / b).astype(np.float32))


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_floor_div_and_mod_round_towards_minus_infinity(dtype):
    a = np.array([[-7, 7, -7, 7, 0, 5]], dtype)
    b = np.array([[2], [-2], [3]], dtype)
    check(F.floor_div(graphc.tensor(a), graphc.tensor(b)), np.floor_divide(a, b))
    check(F.mod(graphc.tensor(a), graphc.tensor(b)), np.mod(a, b))


def test_fractional_floor_div_and_mod():
    a = np.array([-7.5, 7.25, 0.5], np.float32)
    check(F.floor_div(graphc.tensor(a), 2.0), np.floor_divide(a, np.float32(2.0)))
    check(F.mod(graphc.tensor(a), 2.0), np.mod(a, np.float32(2.0)))


def test_pow_float_and_int():
    a = _positive((2, 3))
    b = randn((3,))
    check(F.pow(graphc.tensor(a), graphc.tensor(b)), np.power(a, b), rtol=1e-6)
    check(F.pow(graphc.tensor(a), 0.5), np.power(a, np.float32(0.5)), rtol=1e-6)
    ints = np.array([0, 1, 2, -3], np.int32)
    check(F.pow(graphc.tensor(ints), 3), ints ** 3)
    check(graphc.tensor(ints) ** graphc.tensor(np.array([2, 0, 5, 1], np.int32)),
          ints ** np.array([2, 0, 5, 1], np.int32))


def test_int_to_a_negative_int_power_raises_op_error_naming_op_and_line():
    x = graphc.tensor(np.array([2, 3], np.int32))
    where = next_line()
    y = F.pow(x, -1)
    with pytest.raises(graphc.OpError) as info:
        y.numpy()
    assert str(info.value).startswith("pow:") and where in str(info.value)


def test_maximum_and_minimum_propagate_nan():
    a = np.array([np.nan, 1.0, -np.inf, 2.0], np.float32)
    b = np.array([0.0, np.nan, 3.0, np.inf], np.float32)
    check(F.maximum(graphc.tensor(a), graphc.tensor(b)), np.maximum(a, b))
    check(F.minimum(graphc.tensor(a), graphc.tensor(b)), np.minimum(a, b))


def test_scalar_operands_follow_megengine_promotion():
    ints = np.array([1, 2, 3], np.int32)
    x = graphc.tensor(ints)
    check(F.add(x, 1), ints + np.int32(1))
    check(F.add(x, 0.5), ints.astype(np.float32) + np.float32(0.5))
    check(F.sub(10, x), np.int32(10) - ints)
    check(F.div(1, graphc.tensor(np.array([4.0], np.float32))), np.array([0.25], np.float32))
    halves = randn(3, np.float16)
    check(F.mul(graphc.tensor(halves), 2.0), halves * np.float16(2.0))
    bools = np.array([True, False])
    check(F.add(graphc.tensor(bools), graphc.tensor(bools)), bools.astype(np.int32) * 2)
    check(F.add(x, graphc.tensor(np.array([0.5, 1.0, 1.5], np.float32))),
          ints.astype(np.float32) + np.array([0.5, 1.0, 1.5], np.float32))


def test_incompatible_shapes_raise_shape_error_naming_op_and_line():
    a, b = graphc.tensor(np.ones((2, 3))), graphc.tensor(np.ones(4))
    with pytest.raises(ShapeError) as info:
        where = next_line()
        F.add(a, b)
    message = str(info.value)
    assert message.startswith("add:") and "(2, 3)" in message and "(4,)" in message
    assert where in message


# ---- comparisons and logic ----------------------------------------------------------

COMPARISONS = {
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_broadcast_and_handle_nan(name):
    a = np.array([[np.nan, 1.0, 2.0, np.inf, -np.inf, 0.0]], np.float32)
    b = np.array([[np.nan], [1.0], [np.inf]], np.float32)
    fn, reference = getattr(F, name), COMPARISONS[name]
    check(fn(graphc.tensor(a), graphc.tensor(b)), reference(a, b))
    check(fn(graphc.tensor(a), 1.0), reference(a, np.float32(1.0)))
    ints = np.array([1, 2, 3], np.int32)
    check(fn(graphc.tensor(ints), graphc.tensor(np.array([1.5, 2.0, 2.5], np.float32))),
          reference(ints, np.array([1.5, 2.0, 2.5], np.float32)))
    empty = np.zeros((0, 2), np.float32)
    check(fn(graphc.tensor(empty), 0.0), reference(empty, np.float32(0)))


LOGICAL = {"logical_and": np.logical_and, "logical_or": np.logical_or,
           "logical_xor": np.logical_xor}


@pytest.mark.parametrize("name", sorted(LOGICAL))
def test_logical_ops_broadcast(name):
    a = np.array([[True, False, True, False]])
    b = np.array([[True], [False]])
    fn = getattr(F, name)
    check(fn(graphc.tensor(a), graphc.tensor(b)), LOGICAL[name](a, b))
    check(fn(graphc.tensor(a), True), LOGICAL[name](a, True))
    check(fn(graphc.tensor(np.array(True)), graphc.tensor(b)), LOGICAL[name](True, b))


def test_logical_not():
    a = np.array([[True, False], [False, False]])
    check(F.logical_not(graphc.tensor(a)), np.logical_not(a))
    check(~graphc.tensor(a), np.logical_not(a))


def test_logical_ops_reject_non_bool_operands():
    with pytest.raises(TypeError, match="logical_and"):
        F.logical_and(graphc.tensor([1, 0]), graphc.tensor([True, True]))
    with pytest.raises(TypeError, match="logical_not"):
        F.logical_not(graphc.tensor([1.0]))


# ---- where and clip -------------------------------------------------------------------

def test_where_selects_nan_and_inf_with_broadcast_mask():
    mask = np.array([[True], [False]])
    x = np.array([np.nan, np.inf, 1.0], np.float32)
    y = np.array([[-np.inf], [np.nan]], np.float32)
    check(F.where(graphc.tensor(mask), graphc.tensor(x), graphc.tensor(y)), np.where(mask, x, y))
    check(F.where(graphc.tensor(mask), np.nan, 2.0), np.where(mask, np.float32(np.nan),
                                                             np.float32(2.0)))


def test_where_promotes_branches_and_handles_0d_and_empty():
    mask = np.array([True, False, True])
    ints = np.array([1, 2, 3], np.int32)
    check(F.where(graphc.tensor(mask), graphc.tensor(ints), 0.5),
          np.where(mask, ints, np.float32(0.5)).astype(np.float32))
    check(F.where(graphc.tensor(np.array(False)), graphc.tensor(ints), graphc.tensor(-ints)),
          -ints)
    empty = np.zeros((0, 2), bool)
    check(F.where(graphc.tensor(empty), 1.0, 2.0), np.zeros((0, 2), np.float32))


def test_where_requires_a_bool_mask():
    with pytest.raises(TypeError, match="where: mask must be bool"):
        F.where(graphc.tensor([1, 0]), 1.0, 2.0)


def test_where_mask_that_does_not_broadcast_raises():
    with pytest.raises(ShapeError, match="where"):
        F.where(graphc.tensor(np.ones((3,), bool)), graphc.tensor(np.ones(4)), 0.0)


@pytest.mark.parametrize(("lower", "upper"), [(-0.5, None), (None, 0.5), (-0.5, 0.5),
                                              (0.5, 0.5)])
def test_clip_with_either_or_both_bounds(lower, upper):
    x = np.array([-2.0, -0.5, 0.0, 0.3, 0.5, 3.0, np.nan, np.inf, -np.inf], np.float32)
    lo = -np.inf if lower is None else lower
    hi = np.inf if upper is None else upper
    check(F.clip(graphc.tensor(x), lower, upper), np.clip(x, np.float32(lo), np.float32(hi)))


def test_clip_of_ints_with_tensor_bounds():
    x = np.arange(-4, 5, dtype=np.int32).reshape(3, 3)
    lo = np.array([-1, 0, -3], np.int32)
    check(F.clip(graphc.tensor(x), graphc.tensor(lo), 2), np.clip(x, lo, 2))


@pytest.mark.parametrize(("a", "b", "dtype", "shape"), [
    (np.ones((2, 3), np.float16), 1.0, "float16", (2, 3)),    # the scalar's kind is not higher
    (np.ones((2, 3), np.int32), 1.5, "float32", (2, 3)),      # ... here it is
    (np.ones((2, 1), np.float32), np.ones(3, np.float32), "float32", (2, 3)),
    (2, np.ones(3, np.int32), "int32", (3,)),
    (np.ones(3, np.bool_), True, "int32", (3,)),             # numeric ops: bool becomes int32
    (np.ones(3, np.int32), np.ones(3, np.float16), "float32", (3,)),  # 64-bit → 32-bit
])
def test_operand_fast_and_general_paths_follow_the_dtype_rules(a, b, dtype, shape):
    ta = graphc.tensor(a) if isinstance(a, np.ndarray) else a
    tb = graphc.tensor(b) if isinstance(b, np.ndarray) else b
    got = F.add(ta, tb)
    assert got.dtype == np.dtype(dtype) and got.shape == shape
    want = np.add(np.asarray(a, np.float64), np.asarray(b, np.float64)).astype(dtype)
    np.testing.assert_array_equal(got.numpy(), np.broadcast_to(want, shape))
