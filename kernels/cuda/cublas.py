"""Matrix products through cuBLAS, by way of CuPy (the optional ``cupy-cuda13x``).

:func:`matmul_into` wraps numba device arrays as CuPy arrays without copying (the CUDA
array interface) and runs ``cupy.matmul(a, b, out=out)`` on the caller's numba stream,
which CuPy takes as an external stream: the product is queued after the work already
on that stream and before whatever follows, with no host synchronisation.

Precision: float32 runs in full float32. CuPy asks cuBLAS for TF32 (10-bit mantissa
products on tensor cores) only when ``CUPY_TF32=1``; :func:`available` reports that
setting as a reason not to use cuBLAS, so graphc never runs float32 at TF32 precision.
float16 accumulates in float32 (CuPy's compute type for half). Integer products run in
CuPy's own kernel, not cuBLAS.

Determinism: cuBLAS gives the same bits on every run for one toolkit version, GPU
architecture and SM count while one stream uses a handle at a time; CuPy keeps one
handle per thread and device, so a thread that keeps to its own stream (the device
runtime's per-thread streams) meets that. Where several streams of one thread run
products at once, set ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS's documented switch).
The bits may differ from the tiled numba kernel's (graphc.kernels.cuda.matmul): cuBLAS
splits K its own way.

Nothing here imports CuPy or numba.cuda until a function is called.

>>> ok, reason = available()
>>> isinstance(ok, bool) and isinstance(reason, str)
True
"""

from __future__ import annotations

import functools
import os
from typing import Any


@functools.cache
def available() -> tuple[bool, str]:
    """Whether cuBLAS can run products here: ``(True, what was found)`` or ``(False,
    why not)``. Never raises; without CuPy, a driver or a device it answers at once
    (CuPy's device count fails fast without a driver). Cached for the process.

    >>> ok, reason = available()
    >>> ok or bool(reason)
    True
    """
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False, "numba's CUDA simulator is on: its arrays are host memory"
    try:
        import cupy
    except ImportError as error:
        return False, f"CuPy is not installed (pip install cupy-cuda13x): {error}"
    except Exception as error:  # a broken install: a missing CUDA library, ...
        return False, f"CuPy failed to import: {type(error).__name__}: {error}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # no driver, no device, a driver too old for CuPy
        return False, f"CuPy finds no usable CUDA device: {type(error).__name__}: {error}"
    if count < 1:
        return False, "CuPy finds no CUDA device"
    if _tf32_on(cupy):
        return False, ("CUPY_TF32 is set: cuBLAS would round float32 products to TF32; "
                       "unset it for graphc's float32 results")
    try:
        cupy.cuda.device.get_cublas_handle()  # loads cuBLAS and creates the handle
    except Exception as error:
        return False, f"cuBLAS is not usable: {type(error).__name__}: {error}"
    return True, f"CuPy {cupy.__version__}, cuBLAS on {count} device(s)"


def _tf32_on(cupy: Any) -> bool:
    """Whether CuPy would run float32 products as TF32: its own per-dtype choice (fixed
    at first use from ``CUPY_TF32``) where this CuPy exposes it, else the variable."""
    try:
        from cupy._core import _routines_linalg as linalg

        chosen = linalg.compute_type_to_str(linalg.get_compute_type("f"))
        return chosen == "COMPUTE_TYPE_TF32"
    except Exception:  # internals moved: fall back on the documented variable
        return os.environ.get("CUPY_TF32", "0").strip() not in ("", "0")


def stream_pointer(stream: Any) -> int:
    """The ``CUstream`` address of a numba stream, as an int (0: the default stream).

    numba-cuda 0.30's ``Stream.handle`` is a cuda-bindings ``CUstream`` (``int()`` gives
    the address) and its streams implement the CUDA stream protocol
    (``__cuda_stream__``); older numba's handle was a ctypes ``c_void_p`` (``.value``,
    None for the default stream).

    >>> stream_pointer(0)
    0
    """
    if stream is None or isinstance(stream, int):
        return int(stream or 0)
    protocol = getattr(stream, "__cuda_stream__", None)
    if protocol is not None:
        _, pointer = protocol()
        return int(pointer)
    handle = stream.handle
    return int(getattr(handle, "value", handle) or 0)


class _StreamPointer:
    """A stream address in the CUDA stream protocol's shape, for CuPy 14's
    ``Stream.from_external`` (the stream stays owned by numba)."""

    def __init__(self, pointer: int):
        self.pointer = pointer

    def __cuda_stream__(self) -> tuple[int, int]:
        return 0, self.pointer


def cupy_stream(stream: Any):
    """The CuPy stream object for a numba stream (or 0): CuPy 14's
    ``Stream.from_external``, or ``ExternalStream`` (deprecated in CuPy 14) before it.
    Use it as a context manager: CuPy's work inside runs on that stream."""
    import cupy

    pointer = stream_pointer(stream)
    from_external = getattr(cupy.cuda.Stream, "from_external", None)
    if from_external is not None:
        return from_external(_StreamPointer(pointer))
    return cupy.cuda.ExternalStream(pointer)


class _Interface:
    """A device array's CUDA array interface without its ``stream`` entry, for
    ``cupy.asarray``: with the entry CuPy synchronises the host with that stream on
    every import (``CUPY_CUDA_ARRAY_INTERFACE_SYNC``). The caller orders the arrays'
    writers before the product's stream instead (the device runtime does, with events).
    Holds the array, so CuPy's view keeps it alive."""

    def __init__(self, array: Any):
        interface = dict(array.__cuda_array_interface__)
        interface.pop("stream", None)
        self.__cuda_array_interface__ = interface
        self.array = array


def matmul_into(a, b, out, stream: Any = 0) -> None:
    """``out[...] = a @ b`` with cuBLAS (through CuPy) on the numba ``stream``.

    ``a``, ``b`` and ``out`` are device arrays (numba's, or anything with the CUDA
    array interface) with NumPy's matmul shapes and ``out`` C-contiguous, of one dtype;
    CuPy copies non-contiguous inputs itself. Whatever wrote ``a`` and ``b`` must be
    ordered before ``stream`` (queued on it, or waited for with an event): nothing
    synchronises here. The call returns once the product is queued. Check
    :func:`available` first.

    >>> from numba import cuda  # doctest: +SKIP
    >>> stream = cuda.stream()  # doctest: +SKIP
    >>> matmul_into(a, b, out, stream)  # doctest: +SKIP
    """
    import cupy

    a, b, out = (cupy.asarray(_Interface(x)) for x in (a, b, out))  # views, no copy
    with cupy_stream(stream):
        cupy.matmul(a, b, out=out)
