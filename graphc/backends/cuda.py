"""The CUDA backend: numba device arrays, ``@cuda.jit`` kernels, cuBLAS through CuPy.

Its loop kernels are the kernel IR scheduled and printed for CUDA
(graphc/codegen/cuda_schedule.py, cuda.py) and linked by graphc/runtime/link_cuda.py;
this table binds the opaque ops it runs on the GPU to their kernels, each launched on
the calling Program's stream (:class:`~graphc.backends.base.DeviceCall`):

- ``matmul``: cuBLAS through CuPy where CuPy can use the GPU (``gpu-blas`` extra), else
  graphc's shared-memory tiled numba kernel (:mod:`graphc.kernels.cuda.matmul`);
- ``to_device``: a host→device (or device→device) copy on the call's stream;
- ``check_index``: the labels' bounds check, recording a bad label in the step's error
  word (:mod:`graphc.kernels.cuda.check_index`);
- convolution, pooling, and indexing with concatenation (issue 18): each family's
  entries come from a file of its own (cuda_conv.py, cuda_pool.py, cuda_indexing.py).

Its capabilities answer no to BLAS accumulation (``matmul_add``): the product and the
update are two kernels. An opaque op missing from the table is a compile-time
:class:`NoImplementation` naming it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from ..ir import Attrs
from ..ir.target import Capabilities
from .base import Backend, DeviceCall, LibraryKernel
from .cuda_device import GpuStatus, simulated
from .cuda_memory import is_device_array

# The simulator runs every thread as a Python thread and every barrier switches between
# them: its products use the tiled kernel's per-point twin (the same bits), few threads.
SIMULATOR_PRODUCT = {"tile": 64, "max_blocks": 2, "per_point": True}


def _product_numba(a, b, out, stream) -> None:
    from ..kernels.cuda import matmul

    matmul.matmul_into(a, b, out, stream, **(SIMULATOR_PRODUCT if simulated() else {}))


def _product_cublas(a, b, out, stream) -> None:
    from ..kernels.cuda import cublas

    cublas.matmul_into(a, b, out, stream)


def product() -> tuple[Callable, str]:
    """The matrix product ``(a, b, out, stream)`` the GPU's kernels use (``matmul`` and
    the convolutions), and its name for ``graphc.explain``: cuBLAS through CuPy where
    it can run here, else graphc's tiled numba kernel.

    >>> run, name = product()
    >>> name in ("tiled numba matmul (shared memory)", "cuBLAS gemm (cupy.matmul)")
    True
    """
    if not simulated() and _cublas_usable():
        return _product_cublas, "cuBLAS gemm (cupy.matmul)"
    return _product_numba, "tiled numba matmul (shared memory)"


def _to_device(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
    (x,) = xs
    if is_device_array(x):
        out.copy_to_device(x, stream=call.stream)
    else:
        out.copy_to_device(np.ascontiguousarray(x, dtype=out.dtype), stream=call.stream)


def _check_index(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
    from ..kernels.cuda.check_index import check_labels_into

    (labels,) = xs
    launch = {"threads": 64, "max_blocks": 2} if simulated() else {}
    check_labels_into(labels, attrs["size"], out, call.error_word, call.stream, **launch)
    call.keep(labels)  # to word the error where it is read


def matmul_kernel() -> LibraryKernel:
    """cuBLAS (through CuPy) where it can run here, else the tiled numba kernel."""
    run, name = product()

    def into(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
        run(xs[0], xs[1], out, call.stream)

    return LibraryKernel(name, into=into, on_device=True)


def _cublas_usable() -> bool:
    from ..kernels.cuda import cublas

    return cublas.available()[0]


def library_table() -> dict[str, LibraryKernel]:
    """The CUDA backend's kernel for every opaque op it runs, by op name."""
    table = {
        "matmul": matmul_kernel(),
        "to_device": LibraryKernel("host→device copy", into=_to_device, on_device=True),
        "check_index": LibraryKernel("bounds check (device error word)",
                                     into=_check_index, on_device=True, checks=True),
    }
    # Part 2 (issue 18): each family's GPU kernels, bound in a file of its own.
    from . import cuda_conv, cuda_indexing, cuda_pool

    for family in (cuda_conv, cuda_pool, cuda_indexing):
        table.update(family.entries())
    return table


@functools.cache
def cuda_backend(status: GpuStatus) -> Backend:
    """The process's CUDA backend for the usable GPU ``status`` describes
    (:func:`graphc.backends.backend_for` checks it is usable)."""
    name = f"cuda:{status.name}:{status.compute_capability}"
    return Backend(name, library_table(), Capabilities(), device="gpu")
