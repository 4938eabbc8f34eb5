"""graphc.codegen.mathlib: accuracy, special values and NumPy semantics of the helpers.

float32 approximations are measured in float32 ulps against NumPy/SciPy evaluated in
float64 over dense sweeps (2**20 points), with the bounds the module's docstring states.
Every helper is also compared with the NumPy reference for each dtype it supports. To keep
numba compile time low, all unary helpers are compiled once per dtype in one wrapper
(``_unary_all``), all binary helpers once per dtype in another (``_binary_all``).
"""

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import scipy.special
from numba import njit, prange

from graphc.codegen import mathlib as M
from graphc.ops import get_op

FLOAT_UNARY = ["exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "erf",
               "sigmoid", "floor", "ceil", "rint", "sign", "relu"]
# The graphc op each helper implements, whose NumPy reference is the oracle.
OP_OF = {"rint": "round", "floor_div": "floor_div", "power": "pow"}


@njit(error_model="numpy")
def _unary_all(x, out, flags):
    """Row k of ``out`` is FLOAT_UNARY[k] of x; flags rows are isnan, isinf."""
    for i in range(x.shape[0]):
        v = x[i]
        out[0, i] = M.exp(v)
        out[1, i] = M.expm1(v)
        out[2, i] = M.log(v)
        out[3, i] = M.log1p(v)
        out[4, i] = M.sqrt(v)
        out[5, i] = M.sin(v)
        out[6, i] = M.cos(v)
        out[7, i] = M.tan(v)
        out[8, i] = M.tanh(v)
        out[9, i] = M.erf(v)
        out[10, i] = M.sigmoid(v)
        out[11, i] = M.floor(v)
        out[12, i] = M.ceil(v)
        out[13, i] = M.rint(v)
        out[14, i] = M.sign(v)
        out[15, i] = M.relu(v)
        flags[0, i] = M.isnan(v)
        flags[1, i] = M.isinf(v)


def unary_all(x: np.ndarray) -> dict[str, np.ndarray]:
    out = np.empty((len(FLOAT_UNARY), x.size), x.dtype)
    flags = np.empty((2, x.size), np.bool_)
    _unary_all(x, out, flags)
    return dict(zip(FLOAT_UNARY, out)) | {"isnan": flags[0], "isinf": flags[1]}


def reference(name: str, *xs: np.ndarray) -> np.ndarray:
    """The NumPy reference implementation of the op that helper ``name`` renders."""
    with np.errstate(all="ignore"):
        return get_op(OP_OF.get(name, name)).reference(list(xs), {})


def ulp_error(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float32 ulps of the correctly rounded result (subnormal spacing for
    subnormal results)."""
    with np.errstate(over="ignore"):
        spacing = np.spacing(np.abs(want.astype(np.float32))).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


RNG = np.random.default_rng(0)
N = 1 << 20


def _sweep(*ranges: tuple[float, float]) -> np.ndarray:
    return np.concatenate([RNG.uniform(lo, hi, N // len(ranges)) for lo, hi in ranges])


ACCURACY = {
    # name: (float64 reference, sweep, max ulp) — the bounds in mathlib's docstring
    "exp": (np.exp, _sweep((-87.3, 88.7), (-104, -87.3), (-1, 1)), 1),
    "expm1": (np.expm1, _sweep((-20, 88.7), (-1, 1), (-1e-3, 1e-3)), 2),
    "log": (np.log, np.exp(_sweep((-103, 88.7), (-1, 1))), 1),
    "log1p": (np.log1p, np.concatenate([_sweep((-1, 3), (-1e-3, 1e-3)),
                                        np.exp(RNG.uniform(-30, 88.7, N // 2))]), 2),
    "tanh": (np.tanh, _sweep((-10, 10), (-1, 1), (-1e-3, 1e-3)), 2),
    "erf": (scipy.special.erf, _sweep((-4.5, 4.5), (-1.2, 1.2), (-1e-3, 1e-3)), 2),
    "sigmoid": (scipy.special.expit, _sweep((-103.9, 90), (-5, 5)), 3),
}


@pytest.fixture(scope="module")
def float32_sweeps():
    results = {}
    for name, (ref, sweep, _) in ACCURACY.items():
        x = sweep.astype(np.float32)
        results[name] = (x, unary_all(x)[name], ref(x.astype(np.float64)))
    return results


@pytest.mark.parametrize("name", sorted(ACCURACY))
def test_float32_accuracy_in_ulps(name, float32_sweeps):
    x, got, want = float32_sweeps[name]
    error = ulp_error(got, want)
    worst = int(np.argmax(error))
    assert error[worst] <= ACCURACY[name][2], (name, x[worst], got[worst], want[worst])


SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754944e-38,
           1e-7, -1e-7, 0.5, -0.5, 1.0, -1.0, -2.0, 2.5, -2.5, 3.5, 10.0, -10.0, 88.72, 89.0,
           -103.9, -104.0, 100.0, -100.0, 1e30, -1e30, 3.4028235e38, -3.4028235e38]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_helpers_match_numpy_on_special_values(dtype):
    x = np.array(SPECIAL, dtype)
    got = unary_all(x)
    for name, values in got.items():
        want = reference(name, x)
        assert want.dtype == values.dtype, name
        if dtype == np.float32 and name in ACCURACY:
            # NumPy's float32 kernels are approximations too: compare in ulps of the
            # float64 answer, with non-finite results exact.
            want64 = reference(name, x.astype(np.float64)).astype(np.float64)
            with np.errstate(over="ignore"):
                finite = np.isfinite(want64.astype(np.float32))  # overflow: inf exactly
                want32 = want64[~finite].astype(dtype)
            np.testing.assert_array_equal(values[~finite], want32, err_msg=name)
            assert ulp_error(values[finite], want64[finite]).max() <= ACCURACY[name][2], name
        else:
            np.testing.assert_allclose(values, want, rtol=4e-7 if dtype == np.float32
                                       else 1e-15, atol=0, equal_nan=True, err_msg=name)


def test_named_special_values():
    """The IEEE answers the module promises, independent of any reference code."""
    inf, nan = np.inf, np.nan
    x = np.array([-inf, inf, nan, 0.0, -1.0, 1000.0, -1000.0], np.float32)
    got = unary_all(x)
    expect = {
        "exp": [0.0, inf, nan, 1.0, math.exp(-1), inf, 0.0],
        "log": [nan, inf, nan, -inf, nan, math.log(1000), nan],
        "log1p": [nan, inf, nan, 0.0, -inf, math.log1p(1000), nan],
        "expm1": [-1.0, inf, nan, 0.0, math.expm1(-1), inf, -1.0],
        "tanh": [-1.0, 1.0, nan, 0.0, math.tanh(-1), 1.0, -1.0],
        "erf": [-1.0, 1.0, nan, 0.0, math.erf(-1), 1.0, -1.0],
        "sigmoid": [0.0, 1.0, nan, 0.5, 1 / (1 + math.e), 1.0, 0.0],
        "sign": [-1.0, 1.0, nan, 0.0, -1.0, 1.0, -1.0],
    }
    for name, want in expect.items():
        np.testing.assert_allclose(got[name], np.array(want, np.float32), rtol=2.5e-7,
                                   equal_nan=True, err_msg=name)


@njit(parallel=True, fastmath={"reassoc", "contract"})
def _kernel_like(x, out):
    """A loop as graphc's CPU codegen renders it (prange, the same fastmath flags)."""
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = M.tanh(v) + M.erf(v) + M.exp(v) + M.log(v) + M.sigmoid(v)


def test_helpers_vectorise_and_keep_accuracy_in_a_kernel():
    x = np.concatenate([RNG.uniform(0.01, 4, 4096), [np.inf, 0.0, np.nan]]).astype(np.float32)
    out = np.empty_like(x)
    _kernel_like(x, out)
    parts = unary_all(x)
    want = parts["tanh"] + parts["erf"] + parts["exp"] + parts["log"] + parts["sigmoid"]
    np.testing.assert_array_equal(out, want)  # the caller's flags do not reach the helpers
    llvm = "\n".join(_kernel_like.inspect_llvm().values())
    widths = {int(w) for w in re.findall(r"<(\d+) x float>", llvm)}
    assert widths and max(widths) >= 4, "the helper loop did not vectorise"


BINARY = ["maximum", "minimum", "floor_div", "mod", "power"]


@njit(error_model="numpy")
def _binary_all(a, b, out):
    for i in range(a.shape[0]):
        out[0, i] = M.maximum(a[i], b[i])
        out[1, i] = M.minimum(a[i], b[i])
        out[2, i] = M.floor_div(a[i], b[i])
        out[3, i] = M.mod(a[i], b[i])
        out[4, i] = M.power(a[i], b[i])


def binary_all(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    out = np.empty((len(BINARY), a.size), a.dtype)
    _binary_all(a, b, out)
    return dict(zip(BINARY, out))


INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8]


def _int_operands(dtype):
    info = np.iinfo(dtype)
    values = [0, 1, 2, 3, 5, 7, 100, info.max, info.min]
    if info.min < 0:
        values += [-1, -2, -3, -7, -100, info.min + 1]
    pairs = [(a, b) for a in values for b in values]
    a, b = (np.array(v, dtype) for v in zip(*pairs))
    return a, b


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_binary_helpers_match_numpy(dtype):
    a, b = _int_operands(dtype)  # includes x // 0, x % 0, min // -1, negative mod
    got = binary_all(a, b)
    for name in ("maximum", "minimum", "floor_div", "mod"):
        np.testing.assert_array_equal(got[name], reference(name, a, b), err_msg=name)
    exponent_ok = b >= 0
    np.testing.assert_array_equal(got["power"][exponent_ok],
                                  reference("power", a[exponent_ok], b[exponent_ok]))


def test_integer_power_with_negative_exponent_truncates():
    a = np.array([1, -1, -1, 2, -2, 0, 7], np.int32)
    b = np.array([-3, -3, -2, -1, -1, -1, -2], np.int32)
    got = binary_all(a, b)["power"]
    want = [0 if x == 0 else int(Fraction(1, int(x) ** int(-n))) for x, n in zip(a, b)]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_binary_helpers_match_numpy(dtype):
    values = [0.0, -0.0, 1.0, -1.0, 2.0, -3.0, 5.0, -7.5, 0.3, 1e-30, 1e30, np.inf, -np.inf,
              np.nan, 1 / 3]
    a, b = (np.array(v, dtype) for v in zip(*[(x, y) for x in values for y in values]))
    got = binary_all(a, b)
    for name in ("maximum", "minimum", "floor_div", "mod"):
        want = reference(name, a, b)
        np.testing.assert_array_equal(got[name], want, err_msg=name)
        same = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[name][same]), np.signbit(want[same]),
                                      err_msg=f"{name}: sign of zero")
    np.testing.assert_allclose(got["power"], reference("power", a, b),
                               rtol=2.5e-7 if dtype == np.float32 else 1e-15, equal_nan=True)


@njit
def _bool_all(a, b, out):
    for i in range(a.shape[0]):
        out[0, i] = M.maximum(a[i], b[i])
        out[1, i] = M.minimum(a[i], b[i])


def test_bool_maximum_minimum():
    a = np.array([False, False, True, True])
    b = np.array([False, True, False, True])
    out = np.empty((2, 4), np.bool_)
    _bool_all(a, b, out)
    np.testing.assert_array_equal(out[0], np.maximum(a, b))
    np.testing.assert_array_equal(out[1], np.minimum(a, b))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_unary_helpers_match_numpy(dtype):
    info = np.iinfo(dtype)
    x = np.array([0, 1, 7, info.max] + ([-1, -7, info.min] if info.min < 0 else []), dtype)
    got = _int_unary(x)
    for name in ("sign", "relu", "floor", "ceil"):
        want = reference(name, x) if name in ("sign", "relu") else x
        np.testing.assert_array_equal(got[name], want, err_msg=name)
        assert got[name].dtype == dtype
    assert not got["isnan"].any() and not got["isinf"].any()


@njit
def _int_unary_loop(x, out, flags):
    for i in range(x.shape[0]):
        out[0, i] = M.sign(x[i])
        out[1, i] = M.relu(x[i])
        out[2, i] = M.floor(x[i])
        out[3, i] = M.ceil(x[i])
        flags[0, i] = M.isnan(x[i])
        flags[1, i] = M.isinf(x[i])


def _int_unary(x):
    out = np.empty((4, x.size), x.dtype)
    flags = np.empty((2, x.size), np.bool_)
    _int_unary_loop(x, out, flags)
    return dict(zip(["sign", "relu", "floor", "ceil"], out)) | {"isnan": flags[0],
                                                                  "isinf": flags[1]}


CAST_TARGETS = ["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_",
                "bool"]


@njit
def _casts(x, f32, f64, i8, i16, i32, i64, u8, b_, b):
    for i in range(x.shape[0]):
        f32[i] = M.float32(x[i])
        f64[i] = M.float64(x[i])
        i8[i] = M.int8(x[i])
        i16[i] = M.int16(x[i])
        i32[i] = M.int32(x[i])
        i64[i] = M.int64(x[i])
        u8[i] = M.uint8(x[i])
        b_[i] = M.bool_(x[i])
        b[i] = bool(x[i])  # the template of astype to bool renders Python's bool


@pytest.mark.parametrize("source", [np.float32, np.float64, np.int32, np.int64, np.uint8,
                                    np.bool_])
def test_casts_match_astype(source):
    if source == np.bool_:
        x = np.array([True, False])
    elif np.issubdtype(source, np.floating):
        # in range of every target; NumPy leaves float → int of out-of-range values
        # undefined (and negative floats to uint8)
        x = np.array([0.0, -0.0, 0.4, 0.6, 1.5, 2.5, 7.99, 100.7, 127.0, 1e-30], source)
    else:
        x = np.array([0, 1, 100, 127, 200, 255] + ([-1, -128, 300, 70000, -70000]
                                                  if source != np.uint8 else []), source)
    outs = [np.empty(x.size, "bool" if t in ("bool", "bool_") else t) for t in CAST_TARGETS]
    _casts(x, *outs)
    for target, got in zip(CAST_TARGETS, outs):
        np.testing.assert_array_equal(got, x.astype(target), err_msg=target)
    if np.issubdtype(source, np.floating):
        x = -x[2:] - 0.5  # negative floats to the signed targets
        got = np.empty(x.size, np.int32)
        _casts(x, *[np.empty(x.size, o.dtype) if t != "int32" else got
                    for t, o in zip(CAST_TARGETS, outs)])
        np.testing.assert_array_equal(got, x.astype(np.int32))


def test_python_fallbacks_follow_numpy():
    """Without numba (NUMBA_DISABLE_JIT) kernels call the helpers as Python functions."""
    x = np.array([-2.5, -0.0, 0.5, 3.0, np.nan], np.float32)
    for name in ("exp", "log", "erf", "sigmoid", "rint", "sign", "relu", "isnan"):
        got = np.array([getattr(M, name)(v) for v in x])
        np.testing.assert_allclose(got, reference(name, x), rtol=1e-6, equal_nan=True)
        assert got.dtype == reference(name, x).dtype, name
    a, b = np.array([7, -7, 7, 0], np.int32), np.array([2, 2, 0, 0], np.int32)
    for name in ("floor_div", "mod", "maximum"):
        got = np.array([getattr(M, name)(p, q) for p, q in zip(a, b)])
        np.testing.assert_array_equal(got, reference(name, a, b))


def test_every_template_helper_is_exported():
    """Each helper name the CPU renderer's scalar-op table calls is importable from
    mathlib."""
    from graphc.codegen.cpu_ops import SCALAR_OPS

    called = {m for t in SCALAR_OPS.values() for m in re.findall(r"([a-z_0-9]+)\(", t)}
    assert called
    assert called - {"abs"} <= set(M.__all__)


@njit
def _typed(x):
    return (M.sign(x), M.relu(x), M.floor(x), M.rint(x), M.maximum(x, x), M.minimum(x, x),
            M.floor_div(x, x), M.mod(x, x), M.power(x, x))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.float32])
def test_helpers_keep_the_operand_dtype(dtype):
    """Small ints and float32 are not promoted (to int64 / float64) inside kernels."""
    _typed(dtype(3))
    signature = next(s for s in _typed.nopython_signatures if str(s.args[0]) == dtype.__name__)
    assert {str(t) for t in signature.return_type} == {dtype.__name__}


@njit(error_model="numpy")
def _direct_f32(x, out, flags):
    """The direct implementations the code generator calls for float32 operands."""
    for i in range(x.shape[0]):
        v = x[i]
        out[0, i] = M.exp_f32(v)
        out[1, i] = M.expm1_f32(v)
        out[2, i] = M.log_f32(v)
        out[3, i] = M.log1p_f32(v)
        out[4, i] = M.tanh_f32(v)
        out[5, i] = M.erf_f32(v)
        out[6, i] = M.sigmoid_f32(v)
        out[7, i] = M.relu_f32(v)
        flags[0, i] = M.isnan_float(v)
        flags[1, i] = M.isinf_float(v)


def test_direct_float32_calls_equal_the_overloaded_helpers_bit_for_bit():
    x = np.concatenate([np.linspace(-120, 100, 40001, dtype=np.float32),
                        np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40],
                                 np.float32)])
    out = np.empty((8, x.size), np.float32)
    flags = np.empty((2, x.size), np.bool_)
    _direct_f32(x, out, flags)
    want = unary_all(x)
    for row, name in enumerate(["exp", "expm1", "log", "log1p", "tanh", "erf", "sigmoid",
                                "relu"]):
        np.testing.assert_array_equal(out[row], want[name], err_msg=name)
        assert np.array_equal(np.signbit(out[row]), np.signbit(want[name]), equal_nan=True)
    np.testing.assert_array_equal(flags[0], np.isnan(x))
    np.testing.assert_array_equal(flags[1], np.isinf(x))


def test_specialize_calls_direct_implementations_by_dtype(monkeypatch):
    f32, f64, i32 = np.dtype("float32"), np.dtype("float64"), np.dtype("int32")
    assert M.specialize("log1p({0})", f32) == "log1p_f32({0})"
    assert M.specialize("isinf({0})", f64) == "isinf_float({0})"
    assert M.specialize("relu({0})", f64) == "relu_f64({0})"
    assert M.specialize("relu({0})", i32) == "relu({0})"  # the overload handles the rest
    assert M.specialize("({0} + {1})", f32) == "({0} + {1})"
    monkeypatch.setattr(M.numba_config, "DISABLE_JIT", True)  # Python kernels: overloads
    assert M.specialize("exp({0})", f32) == "exp({0})"
