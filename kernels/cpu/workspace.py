"""Scratch arrays for library kernels, reused across calls instead of allocated each time.

A kernel asks for ``scratch(tag, shape, dtype)`` and gets an uninitialised array that
stays its own until the next request with the same tag, shape and dtype from the same
thread. Large fresh allocations cost page faults on every step (an im2col buffer of a
few MB takes longer to fault in than to fill), so reusing them matters. Each thread keeps
at most ``LIMIT`` arrays, least recently used dropped first, so memory stays bounded when
shapes change.

>>> import numpy as np
>>> a = scratch("cols", (2, 3), np.float32)
>>> a is scratch("cols", (2, 3), np.float32), a is scratch("cols", (3, 2), np.float32)
(True, False)
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

LIMIT = 16

_local = threading.local()


def scratch(tag: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype``, reused for the same request."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = OrderedDict()
    key = (tag, tuple(shape), np.dtype(dtype).str)
    array = pool.get(key)
    if array is None:
        array = pool[key] = np.empty(shape, dtype)
        while len(pool) > LIMIT:
            pool.popitem(last=False)
    else:
        pool.move_to_end(key)
    return array
