"""gemm_accumulate: C ← βC + α·A·B from NumPy's BLAS, against NumPy, for every operand
layout BLAS reads directly and the ones it must copy; NaN semantics of zero factors."""

import numpy as np
import pytest
from graphc.kernels.cpu import blas

rng = np.random.default_rng(0)
pytestmark = pytest.mark.skipif(not blas.available(np.float32),
                                reason="NumPy's BLAS exposes no cblas gemm on this machine")


def layout(x: np.ndarray, kind: str) -> np.ndarray:
    """``x``'s values in another memory layout."""
    if kind == "c":
        return x
    if kind == "f":  # a transposed view of a row-major array
        return np.ascontiguousarray(x.T).T
    if kind == "padded":  # rows of a wider matrix
        wide = np.zeros((x.shape[0], x.shape[1] + 3), x.dtype)
        wide[:, :x.shape[1]] = x
        return wide[:, :x.shape[1]]
    if kind == "strided":  # every other column: BLAS cannot read it, so it is copied
        wide = np.zeros((x.shape[0], 2 * x.shape[1]), x.dtype)
        wide[:, ::2] = x
        return wide[:, ::2]
    raise ValueError(kind)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_layout", ["c", "f", "padded", "strided"])
@pytest.mark.parametrize("b_layout", ["c", "f", "padded"])
def test_matches_numpy_for_every_layout(dtype, a_layout, b_layout):
    a, b = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    c = rng.standard_normal((7, 4)).astype(dtype)
    want = 0.5 * c.astype(np.float64) - 0.25 * (a.astype(np.float64) @ b)
    out = c.copy()
    blas.gemm_accumulate(out, layout(a, a_layout), layout(b, b_layout), alpha=-0.25, beta=0.5)
    np.testing.assert_allclose(out, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_zero_factors_keep_numpy_nan_semantics():
    a = np.array([[np.inf, 1.0]], np.float32)
    b = np.ones((2, 2), np.float32)
    c = np.array([[np.inf, 1.0]], np.float32)
    with np.errstate(invalid="ignore"):
        want_alpha0 = c + 0.0 * (a @ b)  # 0 · inf is NaN
        want_beta0 = 0.0 * c + a @ b
    out = c.copy()
    blas.gemm_accumulate(out, a, b, alpha=0.0, beta=1.0)
    np.testing.assert_array_equal(out, want_alpha0)
    out = c.copy()
    blas.gemm_accumulate(out, a, b, alpha=1.0, beta=0.0)
    np.testing.assert_array_equal(out, want_beta0)


def test_empty_dimensions():
    c = np.ones((3, 2), np.float32)
    blas.gemm_accumulate(c, np.ones((3, 0), np.float32), np.ones((0, 2), np.float32), 1.0, 2.0)
    np.testing.assert_array_equal(c, np.full((3, 2), 2.0, np.float32))
    empty = np.ones((0, 2), np.float32)
    blas.gemm_accumulate(empty, np.ones((0, 4), np.float32), np.ones((4, 2), np.float32), 1., 1.)


def test_bad_operands_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 2\) into \(2, 2\)"):
        blas.gemm_accumulate(np.ones((2, 2), np.float32), np.ones((2, 3), np.float32),
                             np.ones((4, 2), np.float32), 1.0, 1.0)
    with pytest.raises(ValueError, match="one dtype"):
        blas.gemm_accumulate(np.ones((2, 2), np.float32), np.ones((2, 2), np.float64),
                             np.ones((2, 2), np.float32), 1.0, 1.0)


def test_only_float32_and_float64_are_available():
    assert blas.available(np.float64)
    assert not blas.available(np.float16) and not blas.available(np.int32)
