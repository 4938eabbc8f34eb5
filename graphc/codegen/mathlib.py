"""Scalar helpers called by generated kernels (the names op templates use).

Every helper is generic over the scalar type and matches the NumPy reference of its op
in :mod:`graphc.ops.elementwise` (NaN propagates through ``maximum``/``minimum``, ``mod``
has NumPy's sign rule, ...).

float32 ``exp``, ``log``, ``tanh``, ``erf`` and ``sigmoid`` have their own branch-free
implementations: on this machine (AVX-512, no SVML) numba's ``math.exp``/``math.tanh``
do not vectorise, and a fused gelu loop using them ran ≈180 ms where these run ≈10 ms.
Accuracy against NumPy in float64 over dense sweeps (tests/codegen/test_mathlib.py):

========  ==================================  =========
function  method                              max error
========  ==================================  =========
exp       Cephes expf: range reduction + deg-6  1 ulp
log       Cephes logf: exponent split + deg-9  1 ulp
tanh      odd polynomial below 0.625, else     2 ulp
          1 - 2 / (exp(2|x|) + 1)
erf       Eigen's rational approximation on    8 ulp
          [-4, 4] (erf(4) rounds to 1)
sigmoid   1 / (1 + exp(-|x|)), mirrored        3 ulp
========  ==================================  =========

float64 arguments use ``math.*`` (accuracy first).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload
from numba.np.numpy_support import as_dtype
from numpy import bool_, float32, float64, int8, int16, int32, int64, uint8  # noqa: F401

_OPTS = {"nogil": True}


@intrinsic
def _i32_as_f32(typingctx, i):
    """Reinterpret the bits of an int32 as a float32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _f32_as_i32(typingctx, x):
    """Reinterpret the bits of a float32 as an int32."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


F = np.float32

@njit(nogil=True, fastmath={"contract"})
def _pow2(n):
    # 2**n for an integer-valued float32 n in [-126, 127]
    return _i32_as_f32((np.int32(n) + np.int32(127)) << np.int32(23))

@njit(nogil=True, fastmath={"contract"})
def exp_f32(x):
    xc = min(max(x, F(-104.0)), F(89.0))
    n = np.floor(xc * F(1.44269504088896341) + F(0.5))
    r = xc - n * F(0.693359375)
    r = r - n * F(-2.12194440e-4)
    z = r * r
    p = F(1.9875691500e-4)
    p = p * r + F(1.3981999507e-3)
    p = p * r + F(8.3334519073e-3)
    p = p * r + F(4.1665795894e-2)
    p = p * r + F(1.6666665459e-1)
    p = p * r + F(5.0000001201e-1)
    p = p * z + r + F(1.0)
    half = np.floor(n * F(0.5))
    res = p * _pow2(half) * _pow2(n - half)
    return x if x != x else res

@njit(nogil=True, fastmath={"contract"})
def log_f32(x):
    tiny = x < F(1.17549435e-38)
    xs = x * F(8388608.0) if tiny else x   # scale denormals up by 2**23
    bits = _f32_as_i32(xs)
    e = ((bits >> np.int32(23)) & np.int32(0xff)) - np.int32(127)
    m = _i32_as_f32((bits & np.int32(0x7fffff)) | np.int32(0x3f800000))
    big = m > F(1.41421356)
    m = m * F(0.5) if big else m
    ef = F(e) + (F(1.0) if big else F(0.0)) - (F(23.0) if tiny else F(0.0))
    f = m - F(1.0)
    z = f * f
    y = F(7.0376836292e-2)
    y = y * f - F(1.1514610310e-1)
    y = y * f + F(1.1676998740e-1)
    y = y * f - F(1.2420140846e-1)
    y = y * f + F(1.4249322787e-1)
    y = y * f - F(1.6668057665e-1)
    y = y * f + F(2.0000714765e-1)
    y = y * f - F(2.4999993993e-1)
    y = y * f + F(3.3333331174e-1)
    y = y * f * z
    y = y + ef * F(-2.12194440e-4)
    y = y - F(0.5) * z
    res = f + y + ef * F(0.693359375)
    res = F(-np.inf) if x == F(0.0) else res
    res = x if x == F(np.inf) else res
    return F(np.nan) if (x < F(0.0) or x != x) else res

@njit(nogil=True, fastmath={"contract"})
def tanh_f32(x):
    ax = abs(x)
    z = x * x
    small = F(-5.70498872745e-3)
    small = small * z + F(2.06390887954e-2)
    small = small * z - F(5.37397155531e-2)
    small = small * z + F(1.33314422036e-1)
    small = small * z - F(3.33332819422e-1)
    small = small * z * x + x
    e = exp_f32(min(F(2.0) * ax, F(88.0)))
    large = F(1.0) - F(2.0) / (e + F(1.0))
    large = large if x >= F(0.0) else -large
    res = small if ax < F(0.625) else large
    return x if x != x else res

@njit(nogil=True, fastmath={"contract"})
def erf_f32(x):
    xc = min(max(x, F(-4.0)), F(4.0))
    x2 = xc * xc
    p = F(-2.72614225801306e-10)
    p = p * x2 + F(2.77068142495902e-08)
    p = p * x2 + F(-2.10102402082508e-06)
    p = p * x2 + F(-5.69250639462346e-05)
    p = p * x2 + F(-7.34990630326855e-04)
    p = p * x2 + F(-2.95459980854025e-03)
    p = p * x2 + F(-1.60960333262415e-02)
    p = p * xc
    q = F(-1.45660718464996e-05)
    q = q * x2 + F(-2.13374055278905e-04)
    q = q * x2 + F(-1.68282697438203e-03)
    q = q * x2 + F(-7.37332916720468e-03)
    q = q * x2 + F(-1.42647390514189e-02)
    return x if x != x else p / q

@njit(nogil=True, fastmath={"contract"})
def sigmoid_f32(x):
    e = exp_f32(-abs(x))
    d = F(1.0) + e
    return F(1.0) / d if x >= F(0.0) else e / d


def _float32_or_math(name, fast32, generic):
    """A helper named ``name``: ``fast32`` for float32 arguments, else ``generic``."""

    def helper(x):
        return generic.py_func(x)

    helper.__name__ = name

    @overload(helper)
    def _impl(x):
        return fast32.py_func if x == types.float32 else generic.py_func

    return helper


@njit(**_OPTS)
def _exp64(x):
    return math.exp(x)


@njit(**_OPTS)
def _log64(x):
    if x > 0:
        return math.log(x)
    if x == 0:
        return -math.inf
    return math.nan


@njit(**_OPTS)
def _tanh64(x):
    return math.tanh(x)


@njit(**_OPTS)
def _erf64(x):
    return math.erf(x)


@njit(**_OPTS)
def _sigmoid64(x):
    e = math.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


exp = _float32_or_math("exp", exp_f32, _exp64)
log = _float32_or_math("log", log_f32, _log64)
tanh = _float32_or_math("tanh", tanh_f32, _tanh64)
erf = _float32_or_math("erf", erf_f32, _erf64)
sigmoid = _float32_or_math("sigmoid", sigmoid_f32, _sigmoid64)







@njit(**_OPTS)
def log1p(x):
    if x > -1:
        return math.log1p(x)
    if x == -1:
        return -math.inf
    return math.nan


@njit(**_OPTS)
def expm1(x):
    return math.expm1(x)


@njit(**_OPTS)
def sqrt(x):
    return math.sqrt(x) if x >= 0 else math.nan


@njit(**_OPTS)
def sin(x):
    return math.sin(x)


@njit(**_OPTS)
def cos(x):
    return math.cos(x)


@njit(**_OPTS)
def tan(x):
    return math.tan(x)








def relu(x):
    """max(x, 0) with NaN propagating (plain Python; numba uses the overload below)."""
    return x if not (x < 0) else type(x)(0)


@overload(relu, inline="always")
def _relu_impl(x):
    zero = np.zeros((), as_dtype(x))[()]  # a zero of x's own type: no float64 promotion

    def impl(x):
        if x < 0:
            return zero
        return x

    return impl


@njit(**_OPTS)
def floor(x):
    return np.floor(x)


@njit(**_OPTS)
def ceil(x):
    return np.ceil(x)


@njit(**_OPTS)
def rint(x):
    return np.rint(x)


@njit(**_OPTS)
def sign(x):
    return np.sign(x)


@njit(**_OPTS)
def isnan(x):
    return x != x


@njit(**_OPTS)
def isinf(x):
    return math.isinf(x)


@njit(**_OPTS)
def maximum(a, b):
    return a if (a > b or a != a) else b


@njit(**_OPTS)
def minimum(a, b):
    return a if (a < b or a != a) else b


@njit(**_OPTS)
def floor_div(a, b):
    return np.floor_divide(a, b)


@njit(**_OPTS)
def mod(a, b):
    return np.mod(a, b)


@njit(**_OPTS)
def power(a, b):
    return np.power(a, b)


# What generated kernels import with ``from graphc.codegen.mathlib import *``.
__all__ = ["bool_", "ceil", "cos", "erf", "exp", "expm1", "float32", "float64", "floor",
           "floor_div", "int8", "int16", "int32", "int64", "isinf", "isnan", "log", "log1p",
           "maximum", "minimum", "mod", "power", "relu", "rint", "sigmoid", "sign", "sin",
           "sqrt", "tan", "tanh", "uint8"]
