"""Whether this process can run kernels on a GPU, and why not when it cannot.

:func:`gpu_status` answers once per process, never crashing: numba-cuda missing (the
``cuda`` extra), no driver, no device, or a device numba cannot use each give a reason a
user can act on. Under ``NUMBA_ENABLE_CUDASIM=1`` numba's CUDA simulator stands in for a
GPU (kernels run as Python threads on NumPy arrays), which is how CI runs the GPU
backend; :func:`simulated` says so. ``GRAPHC_GPU=0`` switches GPU use off (``xpux`` is
then the CPU: the test suite's default). Nothing here imports numba.cuda until asked.

>>> status = gpu_status()
>>> isinstance(status.usable, bool) and isinstance(status.reason, str)
True
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuStatus:
    """``usable``: kernels can run; ``reason``: why not (or what runs them);
    ``device_count``: how many GPUs the driver lists (0 when none is usable)."""

    usable: bool
    reason: str
    simulated: bool = False
    name: str = ""
    compute_capability: tuple[int, int] | None = None
    device_count: int = 0


_lock = threading.Lock()


def simulated() -> bool:
    """Whether numba's CUDA simulator stands in for the GPU (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _driver_loadable() -> bool:
    """Whether a CUDA driver library loads, tried where numba-cuda looks for it
    (numba/cuda/cudadrv/driver.py's ``locate_driver_and_loader``)."""
    if sys.platform == "win32":
        loader, dirs, names = ctypes.WinDLL, ["\\windows\\system32"], ["nvcuda.dll"]
    elif sys.platform == "darwin":
        loader, dirs, names = ctypes.CDLL, ["/usr/local/cuda/lib"], ["libcuda.dylib"]
    else:
        loader, dirs, names = ctypes.CDLL, ["/usr/lib", "/usr/lib64"], ["libcuda.so",
                                                                       "libcuda.so.1"]
    for path in names + [os.path.join(d, n) for d in dirs for n in names]:
        try:
            loader(path)
        except OSError:
            continue
        return True
    return False


@functools.cache
def gpu_status() -> GpuStatus:
    """Whether graphc can run kernels on a GPU here, with the reason (checked once)."""
    with _lock:
        return _probe()


def _probe() -> GpuStatus:
    if os.environ.get("GRAPHC_GPU") == "0":
        return GpuStatus(False, "GPU use is switched off (GRAPHC_GPU=0)")
    if importlib.util.find_spec("numba_cuda") is None:
        return GpuStatus(False, "numba-cuda is not installed (pip install 'graphc[cuda]')")
    if not simulated() and not _driver_loadable():
        # Importing numba.cuda costs 0.6 s: a process without a driver (every CPU-only
        # user, on the default device xpux) learns that in a millisecond.
        return GpuStatus(False, "no usable CUDA driver (the CUDA driver library cannot "
                         "be found or loaded)")
    try:
        from numba import cuda
    except Exception as err:  # a broken install must not break the CPU path
        return GpuStatus(False, f"numba.cuda failed to import: {err}")
    if simulated():
        return GpuStatus(True, "numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)", True,
                         "simulator", (5, 2), 1)
    try:
        from numba.cuda.cudadrv.driver import driver

        count = driver.get_device_count()
    except Exception as err:  # CudaSupportError without a driver, and anything else
        text = " ".join(str(err).split()).rstrip(":")
        return GpuStatus(False, f"no usable CUDA driver ({text})")
    if count == 0:
        return GpuStatus(False, "the CUDA driver found no GPU")
    try:
        device = cuda.get_current_device()
        cc = tuple(device.compute_capability)
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    except Exception as err:
        return GpuStatus(False, f"the GPU cannot be used: {err}")
    return GpuStatus(True, f"{name} (compute capability {cc[0]}.{cc[1]})", False, name, cc,
                     count)
