"""Backends: what runs a fused graph on one kind of device.

A :class:`~graphc.backends.base.Backend` holds the table from opaque ops to its library
kernels and the :class:`~graphc.ir.target.Capabilities` the passes ask. The runtime picks
one per graph with :func:`backend_for` and hands it to the pass pipeline and to the
linker; nothing below the runtime looks a backend up.
"""

from __future__ import annotations

from ..ir.device import device_kind
from .base import Backend, LibraryKernel, NoImplementation


def backend_for(device: str) -> Backend:
    """The backend that runs graphs on ``device`` (a canonical device name).

    graphc has no GPU backend yet, so ``xpux`` means the CPU and a ``gpu`` device is an
    error naming what is missing.

    >>> backend_for("xpux").name
    'cpu'
    """
    if device_kind(device) == "gpu":
        raise NoImplementation(f"device {device}: graphc has no GPU backend yet "
                               "(use 'cpux' or 'xpux')")
    from .cpu import cpu_backend  # its table imports the CPU kernels: at first use

    return cpu_backend()


__all__ = ["Backend", "LibraryKernel", "NoImplementation", "backend_for"]
