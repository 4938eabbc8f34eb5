"""GPU buffers: numba device arrays, created, copied and viewed in one place.

A Tensor on a GPU holds a numba device array (the simulator's stand-in under
``NUMBA_ENABLE_CUDASIM=1``). Host↔device copies happen only here: :func:`upload` where a
value moves to the GPU, :func:`download` where it is read (``numpy()``, ``item()``,
printing) or moves back. :func:`view_maker` gives a Program's movement steps their
zero-copy views (a transpose, a slice, a broadcast) as device arrays with the view's
shape, strides and byte offset, computed once from the types.

Memory: with CuPy installed (the ``gpu-blas`` extra), :func:`install_pool` makes numba
allocate through CuPy's memory pool (numba's External Memory Management interface), so
a step's outputs reuse freed blocks instead of calling cudaMalloc/cudaFree; without
CuPy numba's own allocator serves them (its frees are deferred and batched). A
Program's intermediates live in its per-call arenas (graphc/runtime/link_cuda.py),
allocated once.

>>> import numpy as np
>>> is_device_array(np.ones(2))
False
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from .cuda_device import simulated

_pool_lock = threading.Lock()
_pool_installed: list[str] = []


def cuda():
    """numba.cuda, imported at the first GPU use."""
    from numba import cuda as module

    return module


def is_device_array(value: object) -> bool:
    """Whether ``value`` is a GPU array (a numba device array or the simulator's)."""
    return hasattr(value, "copy_to_host")


def upload(host: np.ndarray, stream=0):
    """A new device array holding a copy of ``host`` (C-contiguous)."""
    install_pool()
    return cuda().to_device(np.ascontiguousarray(host), stream=stream)


def upload_scalar(value, dtype: np.dtype, stream=0):
    """A new 0-d device array holding ``value`` as ``dtype`` (:func:`upload` makes 0-d
    host arrays 1-d, as ``np.ascontiguousarray`` does)."""
    install_pool()
    return cuda().to_device(np.array(value, dtype), stream=stream)


def download(value) -> np.ndarray:
    """A host copy of a device array (waits for the work writing it), else ``value``.

    The copy runs on the legacy default stream, which waits for every graphc stream (they
    are blocking streams), so a read sees every step launched before it.
    """
    if is_device_array(value):
        return value.copy_to_host()
    return value


def empty(shape: tuple[int, ...], dtype: np.dtype, stream=0):
    """An uninitialised C-contiguous device array."""
    install_pool()
    return cuda().device_array(shape, dtype, stream=stream)


def view_base(value) -> object | None:
    """The device array a view made by :func:`view_maker` looks into (None: not a view)."""
    return getattr(value, "_graphc_view_of", None)


def c_contiguous(value) -> bool:
    """Whether a device (or host) array is C-contiguous."""
    if isinstance(value, np.ndarray):
        return value.flags.c_contiguous
    return value.is_c_contiguous()


def view_maker(view: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """A function making, from a device array, the device view that ``view`` (a chain of
    NumPy movement references) makes of a host array of the same shape and strides.

    The view's geometry is computed on a host *shadow* (an array of the base's shape and
    strides over one element, never read or written) and cached per base geometry; a
    movement NumPy can only do by copying (a reshape of a transpose) is an error here:
    the GPU backend has no hidden copies.
    """
    geometry: dict[tuple, tuple] = {}

    def make(base):
        root = view_base(base) or base
        if simulated():  # the simulator's arrays wrap NumPy arrays: view those
            result = type(base)(view(base._ary))
            result._graphc_view_of = root
            return result
        key = (base.shape, base.strides, base.dtype)
        found = geometry.get(key)
        if found is None:
            found = geometry[key] = _view_geometry(view, base.shape, base.strides, base.dtype)
        shape, strides, offset = found
        from numba.cuda.cudadrv.devicearray import DeviceNDArray

        data = base.gpu_data.view(offset) if offset else base.gpu_data
        result = DeviceNDArray(shape, strides, base.dtype, gpu_data=data)
        result._graphc_view_of = root
        return result

    return make


def _view_geometry(view: Callable, shape: tuple, strides: tuple, dtype) -> tuple:
    cell = np.zeros(1, dtype)
    shadow = np.lib.stride_tricks.as_strided(cell, shape=shape, strides=strides)
    result = view(shadow)
    start = shadow.__array_interface__["data"][0]
    if result.size and not np.may_share_memory(result, shadow):
        raise NotImplementedError(f"a movement of a {shape} array with strides {strides} "
                                  "needs a copy, which the GPU backend does not make yet")
    offset = result.__array_interface__["data"][0] - start if result.size else 0
    return tuple(result.shape), tuple(result.strides), offset


def install_pool() -> str:
    """Make numba allocate device memory through CuPy's pool when CuPy is installed;
    ``"cupy"`` or ``"numba"`` (the allocator in use). Once per process, before the first
    allocation (numba's memory manager cannot change after its context exists)."""
    if _pool_installed:
        return _pool_installed[0]
    with _pool_lock:
        if not _pool_installed:
            _pool_installed.append(_install())
    return _pool_installed[0]


def _install() -> str:
    if simulated():
        return "simulator"
    try:
        import cupy  # noqa: F401
    except Exception:
        return "numba"
    from numba.cuda import set_memory_manager

    set_memory_manager(_cupy_manager())
    return "cupy"


def _cupy_manager():
    """numba's External Memory Management plugin over CuPy's default memory pool: a
    freed block returns to CuPy's pool (no cudaFree), which reuses it for later
    allocations."""
    import ctypes

    import cupy
    from numba import cuda as nc

    class CupyPoolManager(nc.GetIpcHandleMixin, nc.HostOnlyCUDAMemoryManager):
        def initialize(self):
            super_init = getattr(super(), "initialize", None)
            if super_init is not None:
                super_init()

        def memalloc(self, size):
            block = cupy.cuda.memory.alloc(size)  # from the pool; freed when dropped
            pointer = ctypes.c_void_p(int(block.ptr))
            return nc.MemoryPointer(self.context, pointer, size,
                                    finalizer=lambda block=block: None)

        def get_memory_info(self):
            free, total = cupy.cuda.runtime.memGetInfo()
            return nc.MemoryInfo(free=free, total=total)

        @property
        def interface_version(self):
            return 1

    return CupyPoolManager
