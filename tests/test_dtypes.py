"""dtype rules (graphc/dtypes.py): defaults for data, promotion between tensors and with
Python scalars, seen through Tensor arithmetic and checked against NumPy's values."""

import numpy as np
import pytest

import graphc
from graphc import dtypes


def _t(values, dtype):
    return graphc.tensor(np.asarray(values, dtype=dtype))


@pytest.mark.parametrize(("data_dtype", "expected"), [
    (np.float64, np.float32), (np.int64, np.int32), (np.uint64, np.int32),
    (np.float32, np.float32), (np.float16, np.float16), (np.int32, np.int32),
    (np.int8, np.int8), (np.uint8, np.uint8), (np.bool_, np.bool_),
])
def test_default_for_data(data_dtype, expected):
    assert dtypes.default_for_data(np.dtype(data_dtype)) == np.dtype(expected)
    assert graphc.tensor(np.zeros(2, dtype=data_dtype)).dtype == np.dtype(expected)


@pytest.mark.parametrize(("value", "expected"), [
    (1.5, np.float32), (2, np.int32), (True, np.bool_), (np.float64(1.0), np.float32),
    (np.int64(1), np.int32), (np.bool_(False), np.bool_),
])
def test_scalar_dtype(value, expected):
    assert dtypes.scalar_dtype(value) == np.dtype(expected)
    assert graphc.tensor(value).dtype == np.dtype(expected)


@pytest.mark.parametrize("spec", ["float32", np.float32, np.dtype("float32"), "f4"])
def test_canonical_accepts_common_specs(spec):
    assert dtypes.canonical(spec) == np.float32


def test_canonical_rejects_non_dtypes():
    with pytest.raises(TypeError, match="not a dtype"):
        dtypes.canonical(object())


def test_kind_rank_orders_bool_int_float():
    assert dtypes.kind_rank(dtypes.bool_) < dtypes.kind_rank(dtypes.int32) \
        < dtypes.kind_rank(dtypes.float16)
    with pytest.raises(TypeError):
        dtypes.kind_rank(np.dtype(np.complex64))


# ---- promotion through arithmetic -----------------------------------------------

@pytest.mark.parametrize(("tensor_dtype", "scalar", "expected"), [
    ("int32", 1.5, "float32"),      # a float scalar lifts an int tensor
    ("int32", 2, "int32"),
    ("float16", 1.0, "float16"),    # same kind: the tensor's dtype wins
    ("float16", 3, "float16"),
    ("float32", 2, "float32"),
    ("int8", 5, "int8"),
    ("bool", 2, "int32"),
    ("bool", 0.5, "float32"),
])
def test_tensor_with_python_scalar(tensor_dtype, scalar, expected):
    values = [0, 1, 2] if tensor_dtype != "bool" else [True, False, True]
    t = _t(values, tensor_dtype)
    for result in (t + scalar, scalar + t, t * scalar):
        assert result.dtype == np.dtype(expected)
    want = np.asarray(values, dtype=tensor_dtype).astype(expected) \
        + np.asarray(scalar).astype(expected)
    np.testing.assert_allclose((t + scalar).numpy(), want, rtol=1e-3)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("float32", "float16", "float32"),
    ("float16", "float16", "float16"),
    ("int32", "float32", "float32"),
    ("int32", "float16", "float32"),   # NumPy gives float64; MegEngine's default narrows it
    ("int8", "int32", "int32"),
    ("bool", "int32", "int32"),
    ("bool", "float16", "float16"),
    ("int32", "uint32", "int32"),      # NumPy gives int64; MegEngine's default narrows it
])
def test_tensor_with_tensor(a, b, expected):
    assert dtypes.promote_types(np.dtype(a), np.dtype(b)) == np.dtype(expected)
    x, y = _t([1, 0, 1], a), _t([1, 1, 0], b)
    assert (x + y).dtype == np.dtype(expected)
    assert (y * x).dtype == np.dtype(expected)
    want = np.asarray([1, 0, 1], a).astype(expected) + np.asarray([1, 1, 0], b).astype(expected)
    np.testing.assert_array_equal((x + y).numpy(), want)


def test_true_division_of_ints_is_float32():
    a = np.array([1, 7, -9], dtype=np.int32)
    b = np.array([2, 2, 4], dtype=np.int32)
    got = graphc.tensor(a) / graphc.tensor(b)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), a / b, rtol=1e-6)
    assert (graphc.tensor(a) / 2).dtype == np.float32
    assert (1 / graphc.tensor(b)).dtype == np.float32


def test_floor_division_and_mod_of_ints_stay_int():
    a = np.array([7, -7, 8], dtype=np.int32)
    b = np.array([2, 2, -3], dtype=np.int32)
    ta, tb = graphc.tensor(a), graphc.tensor(b)
    assert (ta // tb).dtype == np.int32 and (ta % tb).dtype == np.int32
    np.testing.assert_array_equal((ta // tb).numpy(), a // b)
    np.testing.assert_array_equal((ta % tb).numpy(), a % b)


def test_bool_arithmetic_computes_in_int32():
    p = np.array([True, False, True])
    q = np.array([True, True, False])
    tp, tq = graphc.tensor(p), graphc.tensor(q)
    for got, want in ((tp + tq, p.astype(np.int32) + q), (tp - tq, p.astype(np.int32) - q),
                      (tp * tq, p.astype(np.int32) * q), (-tp, -p.astype(np.int32))):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got.numpy(), want)
    assert (tp / tq).dtype == np.float32


def test_float16_arithmetic_stays_float16_and_matches_numpy():
    a = np.array([0.1, 1.5, 3.25], dtype=np.float16)
    t = graphc.tensor(a)
    got = t * 2.0 + 1.0
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.numpy(), a * np.float16(2) + np.float16(1), rtol=1e-3)


def test_to_float():
    assert dtypes.to_float(np.dtype("float16")) == np.float16
    assert dtypes.to_float(np.dtype("int32")) == np.float32
    assert dtypes.to_float(np.dtype("bool")) == np.float32
    assert graphc.tensor([1, 2]).mean().dtype == np.float32
