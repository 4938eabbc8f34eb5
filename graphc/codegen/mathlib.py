"""Scalar helpers called by generated kernels (the names op templates use).

Each is a numba function generic over the scalar type; semantics match the NumPy
reference implementations in graphc.ops.elementwise.
"""

import math

import numpy as np
from numba import njit
from numba.extending import overload
from numba.np.numpy_support import as_dtype
from numpy import bool_, float32, float64, int8, int16, int32, int64, uint8  # noqa: F401

_OPTS = {"inline": "always", "nogil": True}


@njit(**_OPTS)
def exp(x):
    return math.exp(x)


@njit(**_OPTS)
def log(x):
    if x > 0:
        return math.log(x)
    if x == 0:
        return -math.inf
    return math.nan


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


@njit(**_OPTS)
def tanh(x):
    return math.tanh(x)


@njit(**_OPTS)
def erf(x):
    return math.erf(x)


@njit(**_OPTS)
def sigmoid(x):
    e = math.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


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
