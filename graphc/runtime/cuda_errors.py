"""Data errors of GPU steps, reported where results are read.

A GPU kernel cannot raise: a step that checks data (``check_index``: a class label out
of range) records the first bad position in its error word in the call's arena
(graphc/runtime/link_cuda.py) and the Program goes on. :func:`ran` notes each call of a
Program with such steps; :func:`check`, called before any value is copied to the host
(graphc/runtime/transfer.py), reads the words of the calls noted since the last check
and raises the error the CPU would have raised, naming the op and the line that built
it. Programs without checking steps cost nothing here.
"""

from __future__ import annotations

import threading

import numpy as np

from ..backends.cuda_memory import download
from ..ir import OpError
from ..ops import get_op

_pending: list = []  # (DeviceRuntime, DeviceArena) of calls not checked yet
_lock = threading.Lock()


def ran(runtime, arena) -> None:
    """Note that ``runtime``'s call on ``arena`` ran steps with error words."""
    with _lock:
        if not any(a is arena for _, a in _pending):
            _pending.append((runtime, arena))


def check() -> None:
    """Raise the first data error recorded by a GPU call since the last check."""
    if not _pending:
        return
    with _lock:
        noted = list(_pending)
        _pending.clear()
    for runtime, arena in noted:
        words = arena.errors.copy_to_host()
        bad = np.flatnonzero(words)
        if not bad.size:
            continue
        arena.errors.copy_to_device(np.zeros_like(words))
        k = int(bad[0])
        op, location, _, attrs = runtime.checks[k]
        raise OpError(f"{op}: {_message(op, attrs, arena.calls[k].kept)} ({location})")


def _message(op: str, attrs, kept: tuple) -> str:
    """The CPU's message for the error, from the op's reference on the kept inputs."""
    try:
        get_op(op).reference([download(a) for a in kept], attrs)
    except OpError as err:
        return str(err)
    return "a value was out of range"  # the arena ran again since, with good data
