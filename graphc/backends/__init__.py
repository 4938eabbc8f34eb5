"""Backends: what runs a fused graph on one kind of device.

A :class:`~graphc.backends.base.Backend` holds the table from opaque ops to its library
kernels and the :class:`~graphc.ir.target.Capabilities` the passes ask. The runtime picks
one per graph with :func:`backend_for` and hands it to the pass pipeline and to the
linker; nothing below the runtime looks a backend up.
"""

from __future__ import annotations

from ..ir.device import device_kind
from .base import Backend, LibraryKernel, NoImplementation
from .cuda_device import gpu_status


def backend_for(device: str) -> Backend:
    """The backend that runs graphs on ``device`` (a canonical device name): the CUDA
    backend for ``gpu<N>``/``gpux`` (:class:`NoImplementation` naming the reason where
    no GPU is usable), for ``xpux`` where one is, else the CPU's.

    >>> backend_for("cpux").name
    'cpu'
    """
    kind = device_kind(device)
    if kind != "cpu":
        status = gpu_status()
        if status.usable:
            from .cuda import cuda_backend

            return cuda_backend(status)
        if kind == "gpu":
            raise NoImplementation(f"device {device}: no usable GPU: {status.reason}")
    from .cpu import cpu_backend  # its table imports the CPU kernels: at first use

    return cpu_backend()


__all__ = ["Backend", "LibraryKernel", "NoImplementation", "backend_for"]
