"""Device functions that generated CUDA kernels call: the CUDA renderer's scalar library.

A CUDA kernel module does ``from graphc.codegen.cuda_mathlib import *`` and calls these
from inside ``@cuda.jit`` kernels. Every helper is ``@cuda.jit(device=True,
inline="always")``: inlined device functions compile into the kernel's own PTX without
a driver (``numba.cuda.compile_ptx``), where non-inlined device functions and ``@njit``
functions do not. They run unchanged under numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``), where they are plain Python on NumPy scalars.

numba's integer and mixed-literal typing widens (``int32 + 1`` is int64, ``float32 *
1`` is float64), so helpers take the constants they need as arguments (``zero``, ``one``,
``half``): the renderer passes typed literals (``float32(0.0)``), and float32 math stays
float32. Each helper follows the NumPy reference of its op (graphc/ops/elementwise.py),
as the CPU's graphc/codegen/mathlib.py does: ``maximum``/``minimum`` propagate NaN and
return the second of equal operands, integer division by zero gives 0, float
``floor_div``/``mod`` follow NumPy's ``npy_divmod`` step for step. Transcendental
functions are ``math.*`` in the kernel text (libdevice on the GPU), so CPU and GPU
results differ by a few ulps there.

No helper reads a global array, raises or allocates: kernels cannot raise.
"""

from __future__ import annotations

import math

from numba import cuda
from numba.cuda.core import config as cuda_config

# Under the simulator a device function is a plain Python function: numba's simulated
# device call swaps module globals on every call (about 1 ms with the block's threads
# contending), which made an SGD update over LeNet's 48k weights take minutes.
_device = ((lambda function: function) if cuda_config.ENABLE_CUDASIM
           else cuda.jit(device=True, inline="always"))


# ---- products that never contract into an FMA -----------------------------------------
#
# NVVM contracts ``a * b + c`` into one fused multiply-add by default (numba-cuda has no
# switch for it), which rounds once where the CPU and NumPy round twice. DESIGN.md §7
# forbids contraction (a recomputed value then missed ``x == max(x)`` by an ulp on the
# CPU). libdevice's round-to-nearest products compile to ``mul.rn``, which ptxas never
# fuses, so float products go through these and no kernel contracts: the GPU's
# additions and products round as NumPy's. The simulator has no libdevice; there they
# are plain products.

if cuda_config.ENABLE_CUDASIM:
    @_device
    def mul_f32(a, b):
        """float32 ``a * b``, never contracted into an FMA."""
        return a * b

    @_device
    def mul_f64(a, b):
        """float64 ``a * b``, never contracted into an FMA."""
        return a * b
else:
    from numba.cuda import libdevice

    @_device
    def mul_f32(a, b):
        """float32 ``a * b``, never contracted into an FMA."""
        return libdevice.fmul_rn(a, b)

    @_device
    def mul_f64(a, b):
        """float64 ``a * b``, never contracted into an FMA."""
        return libdevice.dmul_rn(a, b)


@_device
def maximum(a, b):
    """The larger operand; NaN if either is NaN; the second of equal operands."""
    return a if (a > b) or (a != a) else b


@_device
def minimum(a, b):
    """The smaller operand; NaN if either is NaN; the second of equal operands."""
    return a if (a < b) or (a != a) else b


@_device
def relu(x, zero):
    """max(x, 0) with NaN propagating and relu(-0.0) = +0.0 (``zero`` typed as x)."""
    return x if (x > zero) or (x != x) else zero


@_device
def sign(x, zero, one):
    """-1, 0 or 1 in x's dtype (signed or float); NaN for NaN."""
    if x != x:
        return x
    if x > zero:
        return one
    if x < zero:
        return -one
    return zero


@_device
def sigmoid(x, one):
    """1 / (1 + exp(-x)), computed from exp(-|x|) so that it never overflows."""
    e = math.exp(-abs(x))
    return one / (one + e) if x >= one - one else e / (one + e)


@_device
def floor_f(x, one):
    """floor(x) in x's float dtype (``math.floor`` returns an int in numba): x minus its
    floor-modulo by 1, exact for every finite x; inf and NaN stay."""
    if x - x != x - x:  # inf or nan
        return x
    return x - (x % one)


@_device
def ceil_f(x, one):
    """ceil(x) in x's float dtype."""
    if x - x != x - x:
        return x
    return x + ((-x) % one)


@_device
def rint_f(x, one, half):
    """Round half to even (NumPy's ``round`` without decimals), keeping the sign of 0."""
    if x - x != x - x:
        return x
    f = x - (x % one)
    d = x - f
    r = f
    if d > half:
        r = f + one
    elif d == half:
        r = f + (f % (one + one))
    return math.copysign(r, x) if r == one - one else r


@_device
def floor_div_i(a, b, zero):
    """NumPy's integer ``floor_divide``: by 0 gives 0; ``x // -1`` wraps."""
    if b == zero:
        return zero
    if b == -1 and a < zero:
        return -a
    return a // b


@_device
def mod_i(a, b, zero):
    """NumPy's integer ``mod``: the divisor's sign; mod 0 gives 0."""
    if b == zero:
        return zero
    if b == -1:
        return zero
    return a % b


@_device
def floor_div_u(a, b, zero):
    """Unsigned ``floor_divide``: by 0 gives 0."""
    return zero if b == zero else a // b


@_device
def mod_u(a, b, zero):
    """Unsigned ``mod``: mod 0 gives 0."""
    return zero if b == zero else a % b


@_device
def _divmod_f(a, b, zero, one, half):
    """NumPy's npy_divmod for floats, step for step: (floor quotient, remainder)."""
    m = math.fmod(a, b)
    if b == zero:
        return a / b, m
    div = (a - m) / b
    if m != zero:
        if (b < zero) != (m < zero):
            m += b
            div -= one
    else:
        m = math.copysign(zero, b)
    if div != zero:
        q = div - (div % one)  # floor, in the operands' dtype
        if div - q > half:
            q += one
    else:
        q = math.copysign(zero, a / b)
    return q, m


@_device
def floor_div_f(a, b, zero, one, half):
    """NumPy's float ``floor_divide`` (by 0: ±inf or NaN)."""
    if b == zero:
        return a / b
    return _divmod_f(a, b, zero, one, half)[0]


@_device
def mod_f(a, b, zero, one, half):
    """NumPy's float ``mod``: the divisor's sign; mod 0 gives NaN."""
    if b == zero:
        return math.fmod(a, b)
    return _divmod_f(a, b, zero, one, half)[1]


@_device
def power_i(a, b, zero, one):
    """Integer ``a ** b`` by squaring (wrapping as NumPy's); a negative exponent gives
    the truncated 1/a**n (0 for |a| > 1), as graphc's CPU kernels do."""
    if b < zero:
        if a == one:
            return one
        if a == -one:
            return one if b % 2 == 0 else -one
        return zero
    return power_u(a, b, zero, one)


@_device
def power_u(a, b, zero, one):
    """``a ** b`` by squaring, for ``b >= 0`` (unsigned, or a signed one checked)."""
    result = one
    base = a
    e = b
    while e > zero:
        if e & 1:
            result = result * base
        base = base * base
        e = e >> 1
    return result


__all__ = [
    "ceil_f", "floor_div_f", "floor_div_i", "floor_div_u", "floor_f", "maximum", "minimum",
    "mod_f", "mod_i", "mod_u", "mul_f32", "mul_f64", "power_i", "power_u", "relu", "rint_f",
    "sigmoid", "sign",
]
