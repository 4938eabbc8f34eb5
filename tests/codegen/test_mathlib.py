"""Accuracy and special values of the kernel helpers in graphc.codegen.mathlib.

float32 functions are compared with NumPy evaluated in float64, in float32 ulps of the
correctly rounded result, over dense sweeps; the bounds are those the module documents.
"""

import math

import numpy as np
import pytest
from numba import njit, prange

from graphc.codegen import mathlib as M

RNG = np.random.default_rng(0)


def vectorised(fn):
    @njit(parallel=True, cache=False)
    def run(x, out):
        for i in prange(x.shape[0]):
            out[i] = fn(x[i])

    return run


def ulps(got: np.ndarray, want: np.ndarray) -> float:
    want32 = want.astype(np.float32)
    spacing = np.spacing(np.abs(want32)).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want) / spacing))


def _erf64(x):
    return np.vectorize(math.erf)(x)


CASES = {
    # name: (helper, float64 reference, sweep, max ulp)
    "exp": (M.exp, np.exp, RNG.uniform(-87, 88.7, 1 << 18), 1),
    "log": (M.log, np.log, np.exp(RNG.uniform(-87, 88, 1 << 18)), 1),
    "tanh": (M.tanh, np.tanh, np.concatenate([RNG.uniform(-9, 9, 1 << 18),
                                              RNG.uniform(-0.7, 0.7, 1 << 16)]), 2),
    "erf": (M.erf, _erf64, np.concatenate([RNG.uniform(-3.9, 3.9, 1 << 18),
                                           RNG.uniform(-0.5, 0.5, 1 << 16)]), 8),
    "sigmoid": (M.sigmoid, lambda v: 1 / (1 + np.exp(-v)), RNG.uniform(-80, 80, 1 << 18), 3),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_accuracy_in_ulps(name):
    fn, ref, sweep, bound = CASES[name]
    x = sweep.astype(np.float32)
    out = np.empty_like(x)
    vectorised(fn)(x, out)
    want = ref(x.astype(np.float64))
    keep = np.abs(want) > 1e-30  # ulps of denormal results are not meaningful
    assert ulps(out[keep], want[keep]) <= bound


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 100.0, -100.0, -1.0],
                   np.float32)


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "erf", "sigmoid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_match_numpy(name, dtype):
    fn, ref, _, _ = CASES[name]
    x = SPECIAL.astype(dtype)
    out = np.empty_like(x)
    vectorised(fn)(x, out)
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64)).astype(dtype)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-30, equal_nan=True)


@njit(cache=False)
def _binary(a, b, out_max, out_min, out_div, out_mod):
    for i in range(a.shape[0]):
        out_max[i] = M.maximum(a[i], b[i])
        out_min[i] = M.minimum(a[i], b[i])
        out_div[i] = M.floor_div(a[i], b[i])
        out_mod[i] = M.mod(a[i], b[i])


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_binary_helpers_follow_numpy(dtype):
    if dtype == np.float32:
        a = np.array([1.5, np.nan, -2.0, 3.0, -7.5, 0.0], dtype)
        b = np.array([np.nan, 1.0, 3.0, -2.0, 2.0, 0.0], dtype)
    else:
        a = np.array([7, -7, 7, -7, 0, 5], dtype)
        b = np.array([2, 2, -2, -2, 3, 0], dtype)  # int division by zero gives 0
    outs = [np.empty_like(a) for _ in range(4)]
    _binary(a, b, *outs)
    with np.errstate(all="ignore"):
        for got, ref in zip(outs, (np.maximum, np.minimum, np.floor_divide, np.mod)):
            np.testing.assert_array_equal(got, ref(a, b))


def test_relu_keeps_nan_and_dtype():
    x = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.nan, np.inf], np.float32)
    out = np.empty_like(x)
    vectorised(M.relu)(x, out)
    np.testing.assert_array_equal(out, np.maximum(x, np.float32(0)))
