"""Loading, launching and compiling rendered CUDA kernels (graphc/codegen/cuda.py).

:func:`load_cuda_kernel` turns a kernel's source into a ``@cuda.jit`` dispatcher (the
simulator's under ``NUMBA_ENABLE_CUDASIM=1``; on a GPU through the on-disk kernel cache,
graphc.codegen.cuda_cache), :func:`launch` runs it once with its
schedule's launch shape, and :func:`compile_ptx_for` compiles a kernel IR to PTX for a
compute capability with NVVM alone (``numba.cuda.compile_ptx``), no GPU or driver,
checking the PTX ISA version the driver must accept. numba.cuda is imported only when a
kernel is loaded or compiled.
"""

from __future__ import annotations

import hashlib
import linecache
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..ir.kernel_ir import KernelIR
from .cuda import CudaKernelSource, render_ir

# The newest PTX ISA the project's GPU machines' driver (580, CUDA 13.0) loads: NVVM 13.0
# emits 9.0; a newer NVVM emits a newer ISA that driver refuses.
MAX_PTX_VERSION = (9, 0)


def load_cuda_kernel(source: str, cc: tuple[int, int] | None = None, *, cache: bool = True):
    """The ``@cuda.jit`` dispatcher defined by ``source`` (imports numba.cuda; under
    ``NUMBA_ENABLE_CUDASIM=1``, the simulator's). Compiles nothing until launched.

    On a GPU the source goes through the on-disk kernel cache, keyed by compute
    capability ``cc`` (None: the current device's, queried here) and the toolchain, and
    the dispatcher loads verified compiled code from there (graphc.codegen.cuda_cache).
    Under the simulator, without a device, or with ``cache=False`` (compile-only PTX)
    the source is run in memory: there is nothing to cache."""
    if cache and not _simulating():
        cc = cc if cc is not None else _current_compute_capability()
        if cc is not None:
            from .cuda_cache import load_cached_cuda_kernel

            return load_cached_cuda_kernel(source, cc)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    filename = f"<graphc-cuda-kernel-{digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"__name__": f"graphc_cuda_kernel_{digest}"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["kernel"]


def _simulating() -> bool:
    from numba.cuda.core import config

    return bool(config.ENABLE_CUDASIM)


def _current_compute_capability() -> tuple[int, int] | None:
    """The current device's compute capability; None without a usable GPU."""
    from numba import cuda

    try:
        if not cuda.is_available():
            return None
        major, minor = cuda.get_current_device().compute_capability
    except Exception:  # a driver that fails to start: no device to cache for
        return None
    return int(major), int(minor)


def kernel_arguments(ks: CudaKernelSource, values: Sequence) -> tuple:
    """The launch arguments for ``values`` (one per parameter, in order): arrays as the
    kernel's layouts want them (views: a flat kernel needs C-contiguous arrays), then
    the sizes."""
    args = []
    for layout, value in zip(ks.layouts, values):
        if layout == "one":
            value = value.reshape(1)
        elif layout == "flat":
            if not _contiguous(value):
                raise ValueError("a flat CUDA kernel takes C-contiguous arrays")
            value = value.reshape(value.size)
        args.append(value)
    return (*args, *ks.sizes)


def _contiguous(array) -> bool:
    flags = getattr(array, "flags", None)
    return bool(flags["C_CONTIGUOUS"]) if flags is not None else True


def launch(ks: CudaKernelSource, values: Sequence, dispatcher=None) -> None:
    """Run ``ks`` once over ``values`` (NumPy arrays under the simulator, device
    arrays on a GPU) with its schedule's launch shape."""
    dispatcher = dispatcher or load_cuda_kernel(ks.source)
    blocks, threads = ks.grid()
    dispatcher[blocks, threads](*kernel_arguments(ks, values))


_PTX_VERSION = re.compile(r"^\s*\.version\s+(\d+)\.(\d+)", re.M)


def ptx_version(ptx: str) -> tuple[int, int]:
    """The PTX ISA version a PTX module declares.

    >>> ptx_version(".version 9.0")
    (9, 0)
    """
    found = _PTX_VERSION.search(ptx)
    if found is None:
        raise ValueError("no .version directive in the PTX")
    return int(found.group(1)), int(found.group(2))


class PTXVersionError(RuntimeError):
    """NVVM emitted a PTX ISA newer than the target driver loads."""


@dataclass(frozen=True)
class CompiledPTX:
    """A kernel compiled without a GPU: its source, PTX and PTX ISA version."""

    source: CudaKernelSource
    ptx: str
    version: tuple[int, int]
    cc: tuple[int, int]


def argument_types(ks: CudaKernelSource) -> tuple:
    """The numba types of ``ks``'s launch arguments (C-contiguous arrays, int64 sizes)."""
    import numpy as np
    from numba import types
    from numba.np.numpy_support import from_dtype

    result = []
    for param, layout in zip(ks.params, ks.layouts):
        dtype = from_dtype(np.dtype(param.dtype))
        if param.kind == "scalar":
            result.append(dtype)
        else:
            ndim = 1 if layout else param.ndim
            result.append(types.Array(dtype, ndim, "C", readonly=False))
    return (*result, *([types.int64] * len(ks.sizes)))


def compile_ptx_for(target: KernelIR | CudaKernelSource, cc: tuple[int, int] = (9, 0),
                    max_version: tuple[int, int] | None = MAX_PTX_VERSION) -> CompiledPTX:
    """Render (a kernel IR) and compile to PTX for compute capability ``cc`` with NVVM,
    without a GPU or driver; :class:`PTXVersionError` if the PTX's ISA version is newer
    than ``max_version`` (the driver's; None: no check). Needs numba-cuda and NVVM (the
    ``cuda`` extra)."""

    ks = target if isinstance(target, CudaKernelSource) else render_ir(target)
    dispatcher = load_cuda_kernel(ks.source, cache=False)  # compile_ptx needs py_func only
    ptx = function_ptx(dispatcher.py_func, argument_types(ks), cc, max_version)
    return CompiledPTX(ks, ptx, ptx_version(ptx), tuple(cc))


_DRIVERS = object()  # function_ptx's default: MAX_PTX_VERSION when called


def function_ptx(function, argtypes: Sequence, cc: tuple[int, int] = (9, 0),
                 max_version: tuple[int, int] | None | object = _DRIVERS) -> str:
    """The PTX of the Python kernel ``function`` (what ``@cuda.jit`` would compile) for
    numba argument types ``argtypes`` and compute capability ``cc``, with NVVM and no
    GPU; :class:`PTXVersionError` if its ISA is newer than ``max_version`` (None: no
    check). The library kernels' ``ptx_for`` functions go through it.

    >>> from numba import types  # doctest: +SKIP
    >>> def fill(a):  # doctest: +SKIP
    ...     a[0] = 1.0
    >>> ptx_version(function_ptx(fill, [types.float32[:]]))  # doctest: +SKIP
    (9, 0)
    """
    from numba import cuda, types

    if max_version is _DRIVERS:
        max_version = MAX_PTX_VERSION
    ptx, _ = cuda.compile_ptx(function, types.void(*argtypes), cc=tuple(cc))
    version = ptx_version(ptx)
    if max_version is not None and version > tuple(max_version):
        raise PTXVersionError(f"NVVM emitted PTX ISA {version[0]}.{version[1]}, newer than "
                              f"{max_version[0]}.{max_version[1]} (the driver's): install "
                              "the NVVM of the cuda extra (cuda-toolkit[nvvm]==13.0.*)")
    return ptx
