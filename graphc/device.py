"""Device names and the default device (the front end's view of them).

The names and their canonical form are defined in :mod:`graphc.ir.device`; this module
adds the default device, whether a GPU is usable, and the :class:`Device` object. Valid
names: ``cpux``, ``cpu<N>``, ``gpux``, ``gpu<N>``, ``xpux`` and ``xpu<N>`` (any device:
the GPU when one is usable, else the CPU), each optionally followed by ``:<stream>``,
and ``cpu:<N>`` for ``cpu<N>``. The default is ``xpux``, or ``GRAPHC_DEFAULT_DEVICE``
when set. :func:`get_device_count` and :func:`is_cuda_available` answer as MegEngine's.
"""

from __future__ import annotations

import os

from .backends.cuda_device import gpu_status
from .ir.device import canonical_device_name, device_kind, device_stream


class Device:
    """A logical device, printed as MegEngine prints it (``xpux:0``).

    >>> Device("cpu0"), Device("xpux") == "xpux"
    (cpu0:0, True)
    """

    __slots__ = ("logical_name",)

    def __init__(self, name: str | Device) -> None:
        self.logical_name = canonical_device(name)

    @property
    def physical(self) -> str:
        """``"cpu"`` or ``"gpu"``: where buffers on this device live."""
        return physical_device(self.logical_name)

    def __str__(self) -> str:
        return f"{self.logical_name}:0"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device):
            return self.logical_name == other.logical_name
        if isinstance(other, str):
            try:
                return self.logical_name == canonical_device(other)
            except ValueError:
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.logical_name)


def canonical_device(name: str | Device | None) -> str:
    """The logical name of a device spec; ValueError listing valid forms otherwise."""
    if name is None:
        return get_default_device()
    if isinstance(name, Device):
        return name.logical_name
    return canonical_device_name(name)


def gpu_usable() -> bool:
    """Whether graphc can run kernels on a GPU in this process (checked once, never
    crashing without a driver); ``xpux`` then means the GPU.

    >>> isinstance(gpu_usable(), bool)
    True
    """
    return gpu_status().usable


def gpu_reason() -> str:
    """Why no GPU is usable (numba-cuda missing, no driver, no device), or which one is."""
    return gpu_status().reason


def is_cuda_available() -> bool:
    """Whether a CUDA GPU is usable here (MegEngine's name for :func:`gpu_usable`).

    >>> is_cuda_available() == (get_device_count("gpu") > 0)
    True
    """
    return gpu_usable()


def get_device_count(device_type: str) -> int:
    """How many devices of ``device_type`` (``"cpu"`` or ``"gpu"``) this process can use:
    the CPU cores, or the GPUs the CUDA driver lists (0 when no GPU is usable).

    >>> get_device_count("cpu") == os.cpu_count()
    True
    """
    if device_type == "cpu":
        return os.cpu_count() or 1
    if device_type == "gpu":
        return gpu_status().device_count if gpu_usable() else 0
    raise ValueError(f"get_device_count: device_type must be 'cpu' or 'gpu', got "
                     f"{device_type!r}")


def physical_device(name: str) -> str:
    """``"cpu"`` or ``"gpu"``: where buffers on device ``name`` live."""
    kind = device_kind(name)
    if kind == "xpu":
        return "gpu" if gpu_usable() else "cpu"
    return kind


def check_available(name: str) -> None:
    """Raise a clear error for an explicitly requested device this process cannot use."""
    if device_kind(name) == "gpu" and not gpu_usable():
        raise RuntimeError(f"device {name} is not available: no usable GPU "
                           f"({gpu_reason()}; use 'cpux' or 'xpux')")


_default = ["xpux"]


def set_default_device(device: str = "xpux") -> None:
    """Set the device new tensors are created on. On a GPU, MegEngine's stream suffix
    (``"gpu0:1"``) runs GPU work on that named stream (``":0"`` or none: each concurrent
    call on a stream of its own).

    >>> set_default_device("cpux"); get_default_device()
    'cpux'
    >>> set_default_device()
    """
    name = canonical_device(device)
    check_available(name)
    _default[0] = name
    if device_kind(name) != "cpu" and gpu_usable():
        from .runtime.link_cuda import select_stream

        select_stream(device_stream(str(device)))  # MegEngine's stream suffix: gpu0:1


def get_default_device() -> str:
    """The logical name of the default device (``"xpux"`` unless changed)."""
    return _default[0]


if os.environ.get("GRAPHC_DEFAULT_DEVICE"):
    set_default_device(os.environ["GRAPHC_DEFAULT_DEVICE"])
