"""General matrix multiply with accumulation, ``C ← βC + α·A·B``, from the BLAS NumPy uses.

NumPy's ``matmul`` always overwrites its output, so an update such as SGD's
``W - lr · (gᵀ·x)`` costs a product written to a scratch matrix and a second pass that reads
it back with ``W``. BLAS's ``gemm`` takes ``α`` and ``β`` and accumulates into ``C``
in the same pass: for a 512x784 weight, in its own buffer, 0.5x the time of the product
and a one-pass update at batch 16 and 0.65–0.8x at batch 128 (``scripts/bench_gemm_update.py``;
figures in docs/performance.md).

The routine is looked up in the BLAS library NumPy itself loaded (no new dependency, same
threads): NumPy's wheels bundle OpenBLAS with its symbols renamed
(``scipy_cblas_sgemm64_``, 64-bit integers); builds against a system CBLAS export
``cblas_sgemm``. Where neither is found, :func:`available` is False and graphc keeps the
plain product (the ``matmul_accumulate`` pass asks first).

>>> import numpy as np
>>> c = np.ones((2, 2), np.float32)
>>> a, b = np.eye(2, dtype=np.float32), np.full((2, 2), 2, np.float32)
>>> if available(np.float32):
...     gemm_accumulate(c, a, b, alpha=-0.5, beta=1.0)
... else:
...     c += -0.5 * (a @ b)
>>> c
array([[0., 0.],
       [0., 0.]], dtype=float32)
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import sys

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_PREFIXES = ("scipy_", "")  # NumPy's bundled OpenBLAS renames its symbols
_SUFFIXES = ("64_", "")  # ...and uses 64-bit integers (ILP64)


def _candidate_libraries() -> list[str]:
    """Shared libraries that may hold NumPy's BLAS, bundled ones first."""
    root = os.path.dirname(os.path.dirname(np.__file__))
    found = []
    for pattern in ("numpy.libs/*blas*", "numpy/.dylibs/*blas*", "numpy.libs/*mkl_rt*"):
        found += sorted(glob.glob(os.path.join(root, pattern)))
    return found


@functools.cache
def _gemm(dtype_char: str):
    """``(function, integer type)`` for ``cblas_?gemm`` of ``dtype_char`` ('s' or 'd'),
    or None."""
    libraries = [ctypes.CDLL(path) for path in _candidate_libraries()]
    if sys.platform != "win32":
        libraries.append(ctypes.CDLL(None))  # a CBLAS linked into the process
    for library in libraries:
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                fn = getattr(library, f"{prefix}cblas_{dtype_char}gemm{suffix}", None)
                if fn is None:
                    continue
                integer = ctypes.c_int64 if suffix == "64_" else ctypes.c_int
                real = ctypes.c_float if dtype_char == "s" else ctypes.c_double
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer,
                               integer, real, ctypes.c_void_p, integer, ctypes.c_void_p,
                               integer, real, ctypes.c_void_p, integer]
                fn.restype = None
                return fn
    return None


_CHARS = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}


def available(dtype: object) -> bool:
    """Whether :func:`gemm_accumulate` can run for ``dtype`` on this machine."""
    char = _CHARS.get(np.dtype(dtype))
    return char is not None and _gemm(char) is not None


def _operand(x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``(array, transpose flag, leading dimension)``: BLAS reads a row-major matrix, or
    a transposed one, with any row stride; other layouts are copied first."""
    item = x.itemsize
    rows, cols = x.shape
    if x.strides[1] == item and x.strides[0] % item == 0 and x.strides[0] >= max(cols, 1) * item:
        return x, _NO_TRANS, x.strides[0] // item
    if x.strides[0] == item and x.strides[1] % item == 0 and x.strides[1] >= max(rows, 1) * item:
        return x, _TRANS, x.strides[1] // item
    x = np.ascontiguousarray(x)
    return x, _NO_TRANS, max(cols, 1)


def gemm_accumulate(c: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float,
                    beta: float) -> None:
    """``c[...] = beta * c + alpha * (a @ b)`` in place, for 2-D float32/float64 arrays of
    one dtype; ``c`` must be C-contiguous and writable and must not overlap ``a`` or
    ``b``. :func:`available` must be True for the dtype."""
    m, k = a.shape
    n = b.shape[1]
    if c.shape != (m, n) or b.shape[0] != k:
        raise ValueError(f"gemm_accumulate: cannot add {a.shape} @ {b.shape} into {c.shape}")
    if not (a.dtype == b.dtype == c.dtype) or not c.flags.c_contiguous:
        raise ValueError("gemm_accumulate: operands of one dtype and a C-contiguous result")
    if m == 0 or n == 0:
        return
    if k == 0 or alpha == 0 or beta == 0:
        # BLAS skips a term whose factor is 0 (so 0 · inf would not give NaN as in NumPy)
        # and wants leading dimensions of at least 1: NumPy computes these rare cases.
        with np.errstate(all="ignore"):  # kernels never warn: values carry inf and NaN
            product = np.matmul(a, b)
            np.add(c * c.dtype.type(beta), product * c.dtype.type(alpha), out=c)
        return
    a, trans_a, lda = _operand(a)
    b, trans_b, ldb = _operand(b)
    _gemm(_CHARS[c.dtype])(_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a.ctypes.data, lda,
                           b.ctypes.data, ldb, beta, c.ctypes.data, max(n, 1))
