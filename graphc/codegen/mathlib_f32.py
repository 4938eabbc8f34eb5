"""float32 approximations the scalar helpers of graphc.codegen.mathlib call.

Branch-free range reductions and polynomials (value-dependent choices are selects), so
LLVM vectorises the loops that call them; their accuracy and speed are tabled in
graphc.codegen.mathlib's docstring. Also the float64 (and integer) versions of ``log``,
``log1p`` and ``sigmoid``, and the helpers' compile options.

>>> import numpy as np
>>> float(_exp_f32(np.float32(0.0)))
1.0
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

F = np.float32
# Options of the helpers' own compiled code. "contract" lets polynomials use FMA; nothing
# that changes NaN/Inf semantics. error_model="numpy": division never raises.
_EXACT = {"nogil": True, "error_model": "numpy"}
_FAST = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}}


# ---- float32 bit manipulation, in LLVM IR so the lanes stay 32 bits wide -------------

def _f32_intrinsic(build):
    """A float32 -> float32 intrinsic whose body ``build(builder, i32_bits)`` returns i32."""

    @intrinsic
    def fn(typingctx, x):
        def codegen(context, builder, signature, args):
            bits = builder.bitcast(args[0], ir.IntType(32))
            return builder.bitcast(build(builder, bits), ir.FloatType())

        return types.float32(types.float32), codegen

    return fn


def _i32(value):
    return ir.Constant(ir.IntType(32), value)


# 2**n for an integer-valued float32 n in [-126, 127]: n + 127 placed in the exponent field.
_pow2 = _f32_intrinsic(lambda b, bits: b.shl(
    b.add(b.fptosi(b.bitcast(bits, ir.FloatType()), ir.IntType(32)), _i32(127)), _i32(23)))
# The significand of a positive normal float32, as a float in [1, 2).
_significand = _f32_intrinsic(lambda b, bits: b.or_(b.and_(bits, _i32(0x7FFFFF)),
                                                    _i32(0x3F800000)))


@intrinsic
def _exponent_field(typingctx, x):
    """The biased exponent field of a float32, as an integer-valued float32."""

    def codegen(context, builder, signature, args):
        bits = builder.bitcast(args[0], ir.IntType(32))
        field = builder.and_(builder.lshr(bits, _i32(23)), _i32(0xFF))
        return builder.sitofp(field, ir.FloatType())

    return types.float32(types.float32), codegen


# ---- float32 approximations ---------------------------------------------------------

@njit(**_FAST)
def _exp_f32(x):
    xc = min(max(x, F(-104.0)), F(88.8))
    n = np.floor(xc * F(1.44269504088896341) + F(0.5))
    r = xc - n * F(0.693359375)  # ln 2 in two parts: the first is exact in n * it
    r = r - n * F(-2.12194440e-4)
    p = F(1.9875691500e-4)
    p = p * r + F(1.3981999507e-3)
    p = p * r + F(8.3334519073e-3)
    p = p * r + F(4.1665795894e-2)
    p = p * r + F(1.6666665459e-1)
    p = p * r + F(5.0000001201e-1)
    p = p * (r * r) + r + F(1.0)
    half = np.floor(n * F(0.5))  # two factors reach subnormal results and overflow to inf
    res = p * _pow2(half) * _pow2(n - half)
    return x if x != x else res


@njit(**_FAST)
def _expm1_f32(x):
    p = F(1.0 / 362880.0)
    p = p * x + F(1.0 / 40320.0)
    p = p * x + F(1.0 / 5040.0)
    p = p * x + F(1.0 / 720.0)
    p = p * x + F(1.0 / 120.0)
    p = p * x + F(1.0 / 24.0)
    p = p * x + F(1.0 / 6.0)
    p = p * x + F(0.5)
    small = p * (x * x) + x
    large = _exp_f32(x) - F(1.0)
    return small if abs(x) < F(0.5) else large


@njit(**_FAST)
def _log_f32(x):
    tiny = x < F(1.17549435e-38)
    xs = x * F(8388608.0) if tiny else x  # subnormals scaled up by 2**23
    e = _exponent_field(xs) - (F(150.0) if tiny else F(127.0))
    m = _significand(xs)
    big = m > F(1.41421356)
    m = m * F(0.5) if big else m  # m in [0.707, 1.414]
    e = e + F(1.0) if big else e
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
    y = y * f * z + e * F(-2.12194440e-4) - F(0.5) * z
    res = f + y + e * F(0.693359375)
    res = F(-np.inf) if x == F(0.0) else res
    res = x if x == F(np.inf) else res
    return F(np.nan) if (x < F(0.0)) | (x != x) else res


@njit(**_FAST)
def _log1p_f32(x):
    u = F(1.0) + x
    # log(u) is exact up to its own error for the rounded u; ((u - 1) - x) / u removes the
    # rounding of 1 + x to first order (u - 1 is exact for u in [0.5, 2]).
    finite = (u > F(0.0)) & (x < F(np.inf))
    correction = ((u - F(1.0)) - x) / u if finite else F(0.0)
    return _log_f32(u) - correction


@njit(**_FAST)
def _tanh_f32(x):
    ax = abs(x)
    z = x * x
    small = F(-5.70498872745e-3)
    small = small * z + F(2.06390887954e-2)
    small = small * z - F(5.37397155531e-2)
    small = small * z + F(1.33314422036e-1)
    small = small * z - F(3.33332819422e-1)
    small = small * z * x + x
    large = F(1.0) - F(2.0) / (_exp_f32(min(F(2.0) * ax, F(88.0))) + F(1.0))
    large = large if x >= F(0.0) else -large
    res = small if ax < F(0.625) else large
    return x if x != x else res


@njit(**_FAST)
def _erf_f32(x):
    # Both fits are weighted least squares toward minimax relative error (float64
    # reference: scipy.special.erf / erfc): erf(x)/x in x² on [0, 0.921875] (max relative
    # error 4e-10), -log(erfc(t)) in t on [0.921875, 4] (2e-9); past 4, erf rounds to ±1.
    z = x * x
    p = F(8.397945624252353e-05)
    p = p * z + F(-0.0008149847213322472)
    p = p * z + F(0.005201720428568508)
    p = p * z + F(-0.026859704467839893)
    p = p * z + F(0.11283701673398683)
    p = p * z + F(-0.376126341939652)
    p = p * z + F(0.1283791666938023)  # 2/sqrt(pi) - 1: the leading x is added exactly
    small = p * x + x
    t = min(abs(x), F(4.0))
    q = F(-1.5940915656946283e-06)
    q = q * t + F(4.5233923979155644e-05)
    q = q * t + F(-0.0005900785795068248)
    q = q * t + F(0.004729050395220712)
    q = q * t + F(-0.026336858157663477)
    q = q * t + F(0.10993558211826171)
    q = q * t + F(0.6319762453124436)
    q = q * t + F(1.1301469861176952)
    q = q * t + F(-0.0002990539935604697)
    large = F(1.0) - _exp_f32(-q)
    large = large if x >= F(0.0) else -large
    res = small if abs(x) < F(0.921875) else large
    return x if x != x else res


@njit(**_FAST)
def _sigmoid_f32(x):
    e = _exp_f32(-abs(x))  # exp of a non-positive number only: no overflow
    return (F(1.0) if x >= F(0.0) else e) / (F(1.0) + e)


# ---- float64 (and integer) versions ---------------------------------------------------

def _log64(x):
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _log1p64(x):
    if x > -1:
        return math.log1p(x)
    return -math.inf if x == -1 else math.nan


def _sigmoid64(x):
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)
