"""The CPU backend: NumPy arrays, numba kernels, NumPy's BLAS.

Its library table binds each opaque op to the kernel that computes it on the CPU:
BLAS through NumPy (``matmul``) or ctypes (``matmul_add``: ``gemm`` accumulating into its
output), the im2col and pooling kernels of :mod:`graphc.kernels.cpu` for convolution and
pooling and their gradients, and the op's own NumPy reference for the data-dependent
ops (indexing, scatter, concat, device copies), whose reference *is* the CPU
implementation. Its capabilities say for which dtypes NumPy's BLAS exposes ``gemm``.

>>> backend = cpu_backend()
>>> backend.name, backend.library_kernel("matmul").describe
('cpu', 'np.matmul')
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from ..ir import Attrs
from ..ir.target import Capabilities
from ..kernels.cpu import blas, conv, pool  # NumPy and ctypes only: numba loads at first call
from ..ops import get_op
from ..ops.conv import compute_float
from ..ops.linalg import matmul_add_scalars
from .base import Backend, LibraryKernel
from .cuda_memory import download

# Opaque ops the CPU runs with their NumPy reference (graphc.ops): data-dependent
# indexing and copies, where NumPy is the CPU implementation.
NUMPY_REFERENCE_OPS = ("index", "setitem", "gather", "scatter_add", "scatter_add_axis",
                       "concat", "max_pool2d_select")


def _matmul(xs: Sequence[np.ndarray], attrs: Attrs, out: np.ndarray) -> None:
    np.matmul(xs[0], xs[1], out=out)  # BLAS, straight into the Program's buffer


def _matmul_add(xs: Sequence[np.ndarray], attrs: Attrs, out: np.ndarray) -> None:
    c, a, b = xs[:3]
    alpha, beta = matmul_add_scalars(xs, attrs)
    if out is c:  # in place (the Program checked that c's old value is dead)
        out.flags.writeable = True  # Programs return their outputs read-only
    else:
        np.copyto(out, c)
    alpha = float(alpha)
    blas.gemm_accumulate(out, a, b, -alpha if attrs["subtract"] else alpha, float(beta))


def _check_index(xs: Sequence[np.ndarray], attrs: Attrs, out: np.ndarray) -> None:
    """The labels into the Program's buffer, after one min and one max over them."""
    (index,) = xs
    if index.size and (index.min() < 0 or index.max() >= attrs["size"]):
        get_op("check_index").reference(xs, attrs)  # raises, naming the first bad label
    np.copyto(out, index)


def _to_host(xs: Sequence, attrs: Attrs) -> np.ndarray:
    """A copy on the host: of a host array, or of a GPU array (downloaded)."""
    return np.array(download(xs[0]))


def _window_kernel(kernel: Callable, geometry: Callable[[Attrs], tuple]) -> LibraryKernel:
    """A convolution or pooling kernel ``kernel(*inputs, out, *geometry(attrs))`` as a
    library kernel. Inputs are made C-contiguous (the kernels are specialised on dtype,
    never on layout) and float16 is computed in float32."""

    def run(inputs: Sequence[np.ndarray], attrs: Attrs, out: np.ndarray) -> None:
        arrays = [np.ascontiguousarray(a) for a in compute_float(*inputs)]
        target = out if out.dtype != np.float16 else np.empty(out.shape, np.float32)
        kernel(*arrays, target, *geometry(attrs))
        if target is not out:
            np.copyto(out, target, casting="unsafe")

    return LibraryKernel(f"{kernel.__module__}.{kernel.__name__}", into=run)


def _conv_geometry(attrs: Attrs) -> tuple:
    return (*attrs["stride"], *attrs["padding"], *attrs["dilation"], attrs["groups"])


def _pool_geometry(attrs: Attrs) -> tuple:
    return (*attrs["kernel"], *attrs["stride"], *attrs["padding"])


def _avg_geometry(attrs: Attrs) -> tuple:
    return (*_pool_geometry(attrs), attrs["mode"] != "average")


def _numpy_reference(op: str) -> LibraryKernel:
    return LibraryKernel(f"{op} via its NumPy reference (graphc.ops)",
                         returns=get_op(op).reference)


def library_table() -> dict[str, LibraryKernel]:
    """The CPU's kernel for every opaque op it runs, by op name."""
    table = {
        "matmul": LibraryKernel("np.matmul", into=_matmul),
        "matmul_add": LibraryKernel("graphc.kernels.cpu.blas.gemm_accumulate",
                                    into=_matmul_add, in_place_input=0),
        "check_index": LibraryKernel("bounds check", into=_check_index),
        "to_device": LibraryKernel("copy to the host", returns=_to_host),
        "conv2d": _window_kernel(conv.conv2d_forward, _conv_geometry),
        "conv2d_backward_data": _window_kernel(conv.conv2d_backward_data, _conv_geometry),
        "conv2d_backward_filter": _window_kernel(conv.conv2d_backward_filter,
                                                 _conv_geometry),
        "max_pool2d": _window_kernel(pool.max_pool2d_forward, _pool_geometry),
        "max_pool2d_backward": _window_kernel(pool.max_pool2d_backward, _pool_geometry),
        "avg_pool2d": _window_kernel(pool.avg_pool2d_forward, _avg_geometry),
        "avg_pool2d_backward": _window_kernel(pool.avg_pool2d_backward, _avg_geometry),
    }
    table.update((op, _numpy_reference(op)) for op in NUMPY_REFERENCE_OPS)
    return table


def cpu_capabilities() -> Capabilities:
    """The CPU's answers: BLAS ``gemm`` accumulation where NumPy's BLAS exposes it."""
    return Capabilities(gemm_accumulate_dtypes=frozenset(
        np.dtype(t).name for t in (np.float32, np.float64) if blas.available(t)))


@functools.cache
def cpu_backend() -> Backend:
    """The process's CPU backend (built at first use: it loads NumPy's BLAS symbols)."""
    return Backend("cpu", library_table(), cpu_capabilities())
