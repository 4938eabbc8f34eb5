"""Device names: what a node's ``TensorType.device`` may hold, and its canonical form.

A device name is ``cpux``, ``cpu<N>``, ``gpux``, ``gpu<N>``, ``xpux`` or ``xpu<N>`` (any
device: the GPU when one is usable, else the CPU), optionally followed by
``:<stream>``; its canonical (logical) name drops the stream. ``cpu:<N>`` (and
``gpu:<N>``, ``xpu:<N>``) is another spelling of ``cpu<N>``. Names are data of the IR:
which physical device ``xpux`` means, and the default device, are questions for the
runtime and the front end (``graphc.device``), not for the graph.

>>> canonical_device_name("cpu0:1"), canonical_device_name("cpu:2"), device_kind("xpux")
('cpu0', 'cpu2', 'xpu')
"""

from __future__ import annotations

import re

_PATTERN = re.compile(r"^(cpu|gpu|xpu)(x|\d+)(:\d+)?$")
_INDEX_AFTER_COLON = re.compile(r"^(cpu|gpu|xpu):(\d+)$")  # cpu:0, as cpu0
VALID_FORMS = ("cpux, cpu0, cpu1, ..., gpux, gpu0, gpu1, ..., xpux, xpu0, ... (optionally "
               "with ':<stream>'), or cpu:0, gpu:1, ...")


def canonical_device_name(name: str) -> str:
    """The logical name of device ``name`` (its stream dropped); ValueError listing the
    valid forms for anything else."""
    if isinstance(name, str):
        if _PATTERN.match(name):
            return name.split(":")[0]
        colon = _INDEX_AFTER_COLON.match(name)
        if colon:
            return colon.group(1) + str(int(colon.group(2)))
    raise ValueError(f"invalid device {name!r}; valid forms are {VALID_FORMS}")


def device_stream(name: str) -> int | None:
    """The stream of a device spec (``gpu0:1`` → 1), None when it names none (``gpu0``,
    and ``gpu:1``, where the number after the colon is the device's).

    >>> device_stream("gpu0:1"), device_stream("gpu:1"), device_stream("xpux")
    (1, None, None)
    """
    match = _PATTERN.match(name)
    return int(match.group(3)[1:]) if match and match.group(3) else None


def device_kind(name: str) -> str:
    """``"cpu"``, ``"gpu"`` or ``"xpu"``: the family a canonical device name belongs to."""
    return name[:3]
