"""The tiled CUDA matmul kernel (graphc.kernels.cuda.matmul) under numba's CUDA simulator:
only with ``NUMBA_ENABLE_CUDASIM=1``, in a pytest process of its own
(tests/codegen/test_cuda_sim.py starts it; the name keeps the main suite from collecting
this module).

Every product is compared with NumPy's: shapes that are not multiples of the tile, a
batch, a matrix batch folded into rows, transposed and strided inputs, every dtype, K = 0,
a capped grid (blocks looping over several tiles), and bit-identical repeats. The
simulator costs about 0.5 ms per simulated thread, so the cases use 4x4 tiles (16
threads a block) and small shapes.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.gpu_gate import require_gpu_or_simulator  # noqa: E402

require_gpu_or_simulator()

from graphc.kernels.cuda.matmul import matmul_into  # noqa: E402
from numba import cuda  # noqa: E402

TILE = 4
rng = np.random.default_rng(17)


def values(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    if np.dtype(dtype).kind == "i":
        return rng.integers(-9, 10, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def unwritten(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An output buffer whose every element the kernel must overwrite: NaN, or a large
    integer (an uninitialised buffer may hold a previous run's right answer)."""
    return np.full(shape, np.nan if np.dtype(dtype).kind == "f" else 12345, dtype)


def run(a: np.ndarray, b: np.ndarray, **kw) -> np.ndarray:
    """``a @ b`` through the kernel: host arrays moved to the (simulated) device."""
    out = cuda.to_device(unwritten(np.matmul(a, b).shape, a.dtype))
    matmul_into(cuda.to_device(a), cuda.to_device(b), out, tile=TILE, **kw)
    return out.copy_to_host()


def check(got: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    want = np.matmul(a, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype.kind == "f":
        # A fixed order along K, as NumPy's BLAS may not: close, not equal.
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((5, 7), (7, 3)),  # no side a multiple of the tile: partial tiles in M, K and N
    ((1, 9), (9, 1)),  # a dot product: one thread of the block stores
    ((4, 8), (8, 4)),  # whole tiles only
    ((2, 3, 5), (2, 5, 4)),  # a batch
])
def test_products_match_numpy(a_shape, b_shape):
    a, b = values(a_shape), values(b_shape)
    check(run(a, b), a, b)


def test_a_batch_of_matrices_times_a_matrix_runs_as_rows():
    a, b = values((2, 3, 5)), values((5, 2))
    check(run(a, b), a, b)


def test_two_batch_dimensions_of_contiguous_arrays_fold_into_one():
    a, b = values((2, 1, 3, 2)), values((2, 1, 2, 3))
    check(run(a, b), a, b)


def test_a_transposed_device_view():
    base = values((6, 5))
    b = values((6, 3))
    out = cuda.to_device(unwritten((5, 3), np.float32))
    matmul_into(cuda.to_device(base).T, cuda.to_device(b), out, tile=TILE)
    check(out.copy_to_host(), base.T, b)


def test_both_inputs_transposed():
    a_t, b_t = values((9, 5)), values((3, 9))
    out = cuda.to_device(unwritten((5, 3), np.float32))
    matmul_into(cuda.to_device(a_t).T, cuda.to_device(b_t).T, out, tile=TILE)
    check(out.copy_to_host(), a_t.T, b_t.T)


def test_a_transposed_host_array_moved_to_the_device():
    a_t = values((7, 5))  # a = a_t.T, F-ordered on the device
    b = values((7, 2))
    out = cuda.to_device(unwritten((5, 2), np.float32))
    matmul_into(cuda.to_device(a_t).T, cuda.to_device(b), out, tile=TILE)
    check(out.copy_to_host(), a_t.T, b)


def test_a_column_slice_with_a_stride():
    wide = values((5, 14))
    b = values((7, 3))
    out = cuda.to_device(unwritten((5, 3), np.float32))
    matmul_into(cuda.to_device(wide)[:, ::2], cuda.to_device(b), out, tile=TILE)
    check(out.copy_to_host(), wide[:, ::2], b)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64, np.float16])
def test_other_dtypes(dtype):
    a, b = values((3, 6), dtype), values((6, 5), dtype)
    got = run(a, b)
    if dtype == np.float16:  # computed in float32, rounded once at the store
        want = np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        assert got.dtype == np.float16
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32),
                                   rtol=2e-3, atol=2e-3)
    else:
        check(got, a, b)


# The simulator multiplies NumPy int32 scalars (wrapping, with a warning); a GPU widens
# the products to int64: the same sum modulo 2**32 either way.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_int32_products_wrap_as_numpy_does():
    a = np.full((2, 3), 2**20 + 1, np.int32)
    b = np.full((3, 2), 2**12 + 3, np.int32)
    check(run(a, b), a, b)


def test_float32_accumulates_in_float32_in_k_order():
    # 1 + 2**-24 + 2**-24 rounds to 1 in float32 at each step; float64 would keep it.
    a = np.array([[1.0, 1.0, 1.0]], np.float32)
    b = np.array([[1.0], [2.0**-24], [2.0**-24]], np.float32)
    assert run(a, b)[0, 0] == np.float32(1.0)


def test_an_empty_inner_dimension_writes_zeros():
    a, b = np.zeros((3, 0), np.float32), np.zeros((0, 2), np.float32)
    out = cuda.to_device(np.full((3, 2), 7, np.float32))
    matmul_into(cuda.to_device(a), cuda.to_device(b), out, tile=TILE)
    assert (out.copy_to_host() == 0).all()


def test_a_capped_grid_loops_over_the_tiles():
    a, b = values((2, 6, 5)), values((2, 5, 7))  # 2 batches x 2 x 2 tiles, 3 blocks
    check(run(a, b, max_blocks=3), a, b)


def test_the_same_inputs_give_the_same_bits_whatever_the_tile_or_the_grid():
    a, b = values((2, 5, 9)), values((2, 9, 3))
    first = run(a, b)
    assert run(a, b).tobytes() == first.tobytes()
    assert run(a, b, max_blocks=1).tobytes() == first.tobytes()
    out = cuda.to_device(unwritten((2, 5, 3), np.float32))
    matmul_into(cuda.to_device(a), cuda.to_device(b), out, tile=2)
    assert out.copy_to_host().tobytes() == first.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_the_per_point_kernel_gives_the_tiled_kernels_bits(dtype):
    a, b = values((2, 5, 9)).astype(dtype), values((2, 9, 3)).astype(dtype)
    tiled = cuda.to_device(unwritten((2, 5, 3), dtype))
    matmul_into(cuda.to_device(a), cuda.to_device(b), tiled, tile=TILE)
    points = cuda.to_device(unwritten((2, 5, 3), dtype))
    matmul_into(cuda.to_device(a), cuda.to_device(b), points, tile=8, max_blocks=2,
                per_point=True)
    assert points.copy_to_host().tobytes() == tiled.copy_to_host().tobytes()


def test_it_launches_on_the_given_stream():
    a, b = values((3, 4)), values((4, 2))
    stream = cuda.stream()
    out = cuda.to_device(unwritten((3, 2), np.float32))
    matmul_into(cuda.to_device(a), cuda.to_device(b), out, stream, tile=TILE)
    stream.synchronize()
    check(out.copy_to_host(), a, b)


def test_bad_arguments_raise_clear_errors():
    a, b = cuda.to_device(values((2, 3))), cuda.to_device(values((3, 4)))
    with pytest.raises(ValueError, match="inner dimensions"):
        matmul_into(a, a, cuda.device_array((2, 3), np.float32))
    with pytest.raises(TypeError, match="one dtype"):
        matmul_into(a, b, cuda.device_array((2, 4), np.float64))
    with pytest.raises(TypeError, match="device array"):
        matmul_into(np.ones((2, 3), np.float32), b, cuda.device_array((2, 4), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        matmul_into(a, b, cuda.device_array((4, 2), np.float32).T)
    with pytest.raises(NotImplementedError, match=r"\(2, 1, 3, 2\)"):  # broadcast batches
        matmul_into(cuda.to_device(values((2, 1, 3, 2))), cuda.to_device(values((1, 2, 2, 3))),
                    cuda.device_array((2, 2, 3, 3), np.float32))
    with pytest.raises(NotImplementedError, match="C-contiguous"):
        stacked = cuda.to_device(values((2, 3, 4, 2))).transpose((1, 0, 2, 3))
        matmul_into(stacked, cuda.to_device(values((3, 2, 2, 5))),
                    cuda.device_array((3, 2, 4, 5), np.float32))
    with pytest.raises(TypeError, match="bool"):
        matmul_into(cuda.to_device(np.ones((2, 2), bool)), cuda.to_device(np.ones((2, 2), bool)),
                    cuda.device_array((2, 2), bool))
