"""Matrix products on the GPU without CuPy: a shared-memory tiled ``@cuda.jit`` kernel.

Each block computes one ``tile x tile`` square of the output: its threads stage a
``tile x tile`` slice of ``a`` and one of ``b`` in shared memory, multiply them, and move
on along K. Each output element belongs to one thread, which adds its products in
increasing K (``acc = 0; acc += a[i, 0] * b[0, j]; acc += a[i, 1] * b[1, j]; ...``), so
the bits depend on the inputs alone: not on the tile, the launch shape or the run (no
atomics, no split K). float32 accumulates in float32, float64 in float64, float16 is
read into float32 and rounded once at the store, int32 and int64 accumulate in int64
and wrap as NumPy's do. NVVM contracts each multiply-add into an FMA (numba-cuda has no
switch for it; cuBLAS and the CPU's BLAS do the same), so a GPU's float results may
differ from the simulator's in the last bits; each is repeatable.

Block indices run over the output tiles, batch by batch, in a grid-stride loop, so any
shape runs with a capped grid. Arrays are indexed with their own subscripts: transposed
and strided views work (more slowly: their loads are not coalesced).

numba.cuda is imported at the first call, never at import, so the CPU-only path does not
pay for it. Under ``NUMBA_ENABLE_CUDASIM=1`` the same code runs in numba's simulator.

>>> import numpy as np
>>> from numba import cuda  # doctest: +SKIP
>>> a = cuda.to_device(np.ones((5, 7), np.float32))  # doctest: +SKIP
>>> b = cuda.to_device(np.ones((7, 3), np.float32))  # doctest: +SKIP
>>> out = cuda.device_array((5, 3), np.float32)  # doctest: +SKIP
>>> matmul_into(a, b, out, stream=cuda.stream())  # doctest: +SKIP
>>> out.copy_to_host()[0]  # doctest: +SKIP
array([7., 7., 7.], dtype=float32)
"""

from __future__ import annotations

import builtins
import functools
import math
import types
from typing import Any

import numpy as np

TILE = 16  # threads per block side: 256 threads, 2 KiB of shared memory per float32 tile
MAX_BLOCKS = 2**31 - 1  # the grid's x limit; more tiles are taken by a grid-stride loop

# dtype name -> (compute dtype of the shared tiles, accumulator dtype)
_TYPES = {
    "float16": ("float32", "float32"),  # float16 is a storage type (as on the CPU)
    "float32": ("float32", "float32"),
    "float64": ("float64", "float64"),
    "int32": ("int32", "int64"),  # numba widens int32 products to int64 anyway
    "int64": ("int64", "int64"),
}
DTYPES = tuple(_TYPES)

# The template's free names. Each variant runs the template's code over a namespace of
# its own (see _variant): numba reads a kernel's globals as compile-time constants (the
# shared arrays' shape and dtype must be), and the simulator finds the ``cuda`` global
# to swap in its fake module. These module-level values are never used.
cuda: Any = None
TILE_SIDE = TILE
COMPUTE: Any = None
CAST: Any = None
ZERO: Any = None
ACC_ZERO: Any = None
load: Any = None
store: Any = None


def _tiles(a, b, out, batches, m, n, k):  # the kernel template (see _variant)
    # One cuda.shared.array per line: the simulator keys them by source line.
    a_tile = cuda.shared.array((TILE_SIDE, TILE_SIDE), COMPUTE)
    b_tile = cuda.shared.array((TILE_SIDE, TILE_SIDE), COMPUTE)
    tx = cuda.threadIdx.x  # the output column within the tile: neighbours read
    ty = cuda.threadIdx.y  # neighbouring columns of b (coalesced for row-major b)
    tiles_n = (n + TILE_SIDE - 1) // TILE_SIDE
    per_batch = ((m + TILE_SIDE - 1) // TILE_SIDE) * tiles_n
    for t in range(cuda.blockIdx.x, batches * per_batch, cuda.gridDim.x):
        z = t // per_batch
        tile_row = (t - z * per_batch) // tiles_n
        row = tile_row * TILE_SIDE + ty
        col = (t - z * per_batch - tile_row * tiles_n) * TILE_SIDE + tx
        acc = ACC_ZERO
        for k0 in range(0, k, TILE_SIDE):
            # Outside the matrices a tile holds zeros, never stale values (the rows and
            # columns past the edge compute on them but store nothing).
            if row < m and k0 + tx < k:
                a_tile[ty, tx] = load(a, z, row, k0 + tx)
            else:
                a_tile[ty, tx] = ZERO
            if k0 + ty < k and col < n:
                b_tile[ty, tx] = load(b, z, k0 + ty, col)
            else:
                b_tile[ty, tx] = ZERO
            cuda.syncthreads()
            # Only the K points that exist: the last tile's padding would add zeros.
            for j in range(min(TILE_SIDE, k - k0)):
                acc += a_tile[ty, j] * b_tile[j, tx]
            cuda.syncthreads()  # every thread is done with the tiles before the next load
        if row < m and col < n:
            store(out, z, row, col, acc)


def _points(a, b, out, batches, m, n, k):  # the per-point template (see _variant)
    # One output element per thread, no shared memory and no barrier: the tiled kernel's
    # sums in the tiled kernel's order (the same bits), for numba's simulator, where
    # every syncthreads is a switch between Python threads. Matrices only (a batch runs
    # as one launch per matrix) and plain subscripts: in the simulator each device
    # function call costs more than the product it wraps.
    start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    for t in range(start, m * n, cuda.gridDim.x * cuda.blockDim.x):
        row = t // n
        col = t - row * n
        acc = ACC_ZERO
        for j in range(k):
            acc += CAST(a[row, j]) * CAST(b[j, col])
        out[row, col] = acc


@functools.cache
def _cuda():
    from numba import cuda

    return cuda


@functools.cache
def _accessors() -> dict[int, tuple]:
    """``ndim -> (load, store)``: device functions that index a matrix or a batch of
    matrices alike, so one template serves both."""
    cuda = _cuda()

    @cuda.jit(device=True, inline="always")
    def load2(x, z, i, j):
        return x[i, j]

    @cuda.jit(device=True, inline="always")
    def load3(x, z, i, j):
        return x[z, i, j]

    @cuda.jit(device=True, inline="always")
    def store2(x, z, i, j, value):
        x[i, j] = value

    @cuda.jit(device=True, inline="always")
    def store3(x, z, i, j, value):
        x[z, i, j] = value

    return {2: (load2, store2), 3: (load3, store3)}


def _dtype_name(dtype: object) -> str:
    name = np.dtype(dtype).name
    if name not in _TYPES:
        raise TypeError(f"the CUDA matmul kernel takes {', '.join(DTYPES)}, not {name}")
    return name


def _variant(dtype: object, ndim: int, tile: int, template=_tiles) -> types.FunctionType:
    """The template's Python function for one dtype, rank and tile, over its own
    globals."""
    from numba import types as nbtypes

    name = _dtype_name(dtype)
    if ndim not in (2, 3):
        raise ValueError(f"the tiled kernel takes 2-D or 3-D arrays, not {ndim}-D")
    compute, accumulate = _TYPES[name]
    load_fn, store_fn = _accessors()[ndim]
    namespace = {
        "__builtins__": builtins, "__name__": f"{__name__}._tiles", "cuda": _cuda(),
        "TILE_SIDE": int(tile), "COMPUTE": getattr(nbtypes, compute),
        # Typed zeros: a Python 0 would make numba widen float32 sums to float64.
        "ZERO": np.dtype(compute).type(0), "ACC_ZERO": np.dtype(accumulate).type(0),
        "CAST": np.dtype(compute).type,
        "load": load_fn, "store": store_fn,
    }
    return types.FunctionType(template.__code__, namespace,
                              f"matmul{template.__name__}_{name}_{ndim}d_{tile}")


@functools.cache
def tiled_kernel(dtype: object, ndim: int = 2, tile: int = TILE):
    """The ``@cuda.jit`` dispatcher for ``dtype`` over ``ndim``-D arrays (2: matrices,
    3: a batch of them), built once per (dtype, rank, tile).

    Its arguments are ``(a, b, out, batches, m, n, k)``; launch it with
    ``grid(batches, m, n, tile)`` blocks of ``(tile, tile)`` threads, as
    :func:`matmul_into` does.

    >>> kernel = tiled_kernel("float32")  # doctest: +SKIP
    """
    variant = _variant(dtype, ndim, int(tile))  # checks the dtype before importing numba.cuda
    return _cuda().jit(variant)


@functools.cache
def point_kernel(dtype: object):
    """The per-point ``@cuda.jit`` dispatcher: one output element per thread, the tiled
    kernel's sums in its order (bit-identical), no shared memory. For the simulator,
    where the tiled kernel's barriers dominate; on a GPU the tiled kernel is faster.

    >>> kernel = point_kernel("float32")  # doctest: +SKIP
    """
    return _cuda().jit(_variant(dtype, 2, 1, _points))


def grid(batches: int, m: int, n: int, tile: int = TILE,
         max_blocks: int = MAX_BLOCKS) -> int:
    """The number of blocks for a product: one per output tile, at most ``max_blocks``
    (the rest are taken by the kernel's grid-stride loop).

    >>> grid(2, 5, 3, tile=4)
    4
    """
    tiles = batches * math.ceil(m / tile) * math.ceil(n / tile)
    return max(1, min(tiles, max_blocks))


def _device_array(x, name: str):
    """``x`` as a numba device array (a view, no copy) or TypeError."""
    if hasattr(x, "is_c_contiguous") and hasattr(x, "reshape"):
        return x  # a numba DeviceNDArray, or the simulator's
    if hasattr(x, "__cuda_array_interface__"):  # CuPy and others: a zero-copy view
        return _cuda().as_cuda_array(x, sync=False)
    raise TypeError(f"matmul_into: {name} must be a device array (numba.cuda.to_device), "
                    f"not {type(x).__name__}")


def _as_batch(a, b, out):
    """``(a, b, out)`` as 2-D or 3-D arrays of one batch dimension, or
    NotImplementedError naming the shapes."""
    sa, sb, so = tuple(a.shape), tuple(b.shape), tuple(out.shape)
    shapes = f"{sa} @ {sb} -> {so}"
    if len(sa) < 2 or len(sb) < 2:
        raise ValueError(f"matmul_into takes matrices (reshape vectors): {shapes}")
    (m, k), (k2, n) = sa[-2:], sb[-2:]
    if k != k2:
        raise ValueError(f"matmul_into: inner dimensions differ: {shapes}")
    batch_a, batch_b = sa[:-2], sb[:-2]
    if batch_b == () and batch_a != ():  # (..., M, K) @ (K, N): rows of one product
        want = (*batch_a, m, n)
        if so != want:
            raise ValueError(f"matmul_into: out must have shape {want}: {shapes}")
        if not a.is_c_contiguous():
            raise NotImplementedError(f"matmul_into: the batch of a non-contiguous a "
                                      f"cannot fold into rows: {shapes}")
        rows = math.prod(batch_a) * m
        return a.reshape(rows, k), b, out.reshape(rows, n)
    if batch_a != batch_b:
        raise NotImplementedError(f"matmul_into: batch dimensions must be equal "
                                  f"(no broadcasting): {shapes}")
    if so != (*batch_a, m, n):
        raise ValueError(f"matmul_into: out must have shape {(*batch_a, m, n)}: {shapes}")
    if len(batch_a) > 1:  # several batch dimensions: one, where the arrays allow it
        if not (a.is_c_contiguous() and b.is_c_contiguous()):
            raise NotImplementedError(f"matmul_into: more than one batch dimension needs "
                                      f"C-contiguous a and b: {shapes}")
        count = math.prod(batch_a)
        return (a.reshape(count, m, k), b.reshape(count, k, n),
                out.reshape(count, m, n))
    return a, b, out


def matmul_into(a, b, out, stream: Any = 0, tile: int | None = None, *,
                max_blocks: int = MAX_BLOCKS, per_point: bool = False) -> None:
    """``out[...] = a @ b`` on the GPU with the tiled kernel, launched on ``stream``.

    ``a`` (..., M, K) and ``b`` (..., K, N) are device arrays of any strides (transposed
    views work) with equal batch dimensions, or ``b`` a matrix; ``out`` is a
    C-contiguous (..., M, N) device array of the same dtype, which must not overlap
    ``a`` or ``b``. dtypes: float16 (computed in float32), float32, float64, int32,
    int64. ``stream`` is a numba stream (``cuda.stream()``) or 0 for the default
    stream; the call returns once the kernel is queued. ``tile`` overrides the block
    side (the simulator's tests use 4); ``max_blocks`` caps the grid; ``per_point`` runs
    :func:`point_kernel` instead (``tile`` threads per block), which gives the same bits.

    >>> from numba import cuda  # doctest: +SKIP
    >>> stream = cuda.stream()  # doctest: +SKIP
    >>> a = cuda.to_device(np.arange(6, dtype=np.float32).reshape(2, 3))  # doctest: +SKIP
    >>> out = cuda.device_array((2, 2), np.float32)  # doctest: +SKIP
    >>> matmul_into(a, a.T, out, stream)  # doctest: +SKIP
    >>> out.copy_to_host(stream=stream)  # doctest: +SKIP
    array([[ 5., 14.],
           [14., 50.]], dtype=float32)
    """
    a, b, out = (_device_array(x, name) for x, name in ((a, "a"), (b, "b"), (out, "out")))
    if not a.dtype == b.dtype == out.dtype:
        raise TypeError(f"matmul_into: a, b and out must have one dtype, not "
                        f"{a.dtype}, {b.dtype} and {out.dtype}")
    if not out.is_c_contiguous():
        raise ValueError("matmul_into: out must be C-contiguous")
    a, b, out = _as_batch(a, b, out)
    tile = TILE if tile is None else int(tile)
    if tile < 1 or (tile if per_point else tile * tile) > 1024:
        raise ValueError(f"matmul_into: tile {tile} gives an invalid block of "
                         f"{tile}x{tile} threads (at most 1024)")
    # tuple(): the simulator's shapes refuse negative indices, as numba's do in kernels
    *batch, m, k = tuple(a.shape)
    n = tuple(b.shape)[-1]
    batches = batch[0] if batch else 1
    if m == 0 or n == 0 or batches == 0:
        return  # nothing to write (K == 0 runs: it writes zeros)
    if per_point:
        blocks = max(1, min(math.ceil(m * n / tile), max_blocks))
        kernel = point_kernel(a.dtype.name)[blocks, tile, stream]
        matrices = [(a, b, out)] if a.ndim == 2 else \
            [(a[z], b[z], out[z]) for z in range(batches)]
        for a_z, b_z, out_z in matrices:
            kernel(a_z, b_z, out_z, 1, m, n, k)
        return
    kernel = tiled_kernel(a.dtype.name, a.ndim, tile)
    blocks = grid(batches, m, n, tile, max_blocks)
    kernel[blocks, (tile, tile), stream](a, b, out, batches, m, n, k)


def argument_types(dtype: object, ndim: int = 2) -> tuple:
    """The numba signature's argument types for :func:`ptx_for`: inputs of any layout,
    a C-contiguous output, int64 sizes."""
    from numba import types as nbtypes
    from numba.np.numpy_support import from_dtype

    element = from_dtype(np.dtype(_dtype_name(dtype)))
    any_layout = nbtypes.Array(element, ndim, "A", readonly=False)
    c_layout = nbtypes.Array(element, ndim, "C", readonly=False)
    return (any_layout, any_layout, c_layout, *([nbtypes.int64] * 4))


def ptx_for(dtype: object, cc: tuple[int, int] = (9, 0), ndim: int = 2,
            tile: int = TILE) -> str:
    """The tiled kernel for ``dtype`` compiled to PTX for compute capability ``cc`` with
    NVVM, no GPU or driver needed; :class:`graphc.codegen.cuda_ptx.PTXVersionError` if
    the PTX's ISA is newer than the driver's (``MAX_PTX_VERSION``).

    >>> ptx = ptx_for("float32")  # doctest: +SKIP
    >>> ptx_version(ptx)  # doctest: +SKIP
    (9, 0)
    """

    from graphc.codegen.cuda_ptx import function_ptx

    kernel = _variant(_dtype_name(dtype), ndim, int(tile))
    return function_ptx(kernel, argument_types(dtype, ndim), cc)
