"""Device names: what a node's ``TensorType.device`` may hold, and its canonical form.

A device name is ``cpux``, ``cpu<N>``, ``gpux``, ``gpu<N>`` or ``xpux`` (any device: the
GPU when one is usable, else the CPU), optionally followed by ``:<stream>``; its
canonical (logical) name drops the stream. Names are data of the IR: which physical
device ``xpux`` means, and the default device, are questions for the runtime and the
front end (``graphc.device``), not for the graph.

>>> canonical_device_name("cpu0:1"), device_kind("xpux")
('cpu0', 'xpu')
"""

from __future__ import annotations

import re

_PATTERN = re.compile(r"^(cpu|gpu|xpu)(x|\d+)(:\d+)?$")
VALID_FORMS = "cpux, cpu0, cpu1, ..., gpux, gpu0, gpu1, ..., xpux (optionally with ':<stream>')"


def canonical_device_name(name: str) -> str:
    """The logical name of device ``name`` (its stream dropped); ValueError listing the
    valid forms for anything else."""
    if not isinstance(name, str) or not _PATTERN.match(name):
        raise ValueError(f"invalid device {name!r}; valid forms are {VALID_FORMS}")
    return name.split(":")[0]


def device_kind(name: str) -> str:
    """``"cpu"``, ``"gpu"`` or ``"xpu"``: the family a canonical device name belongs to."""
    return name[:3]
