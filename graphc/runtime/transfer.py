"""Where values cross between host and device: the front end's one door.

:func:`place` gives a new leaf on a device its value (a host array stays on the CPU, is
uploaded for a GPU); :func:`to_host` gives a value as a host array for reading
(``numpy()``, ``item()``, printing), first raising any data error a GPU step recorded
(graphc/runtime/cuda_errors.py).

>>> import numpy as np
>>> place(np.ones(2, np.float32), "cpux") is not None, to_host(np.zeros(1)).shape
(True, (1,))
"""

from __future__ import annotations

import numpy as np

from ..backends.cuda_memory import download, is_device_array, upload
from .compiler import device_of


def place(array: np.ndarray, device: str):
    """The value a leaf on ``device`` holds for the host ``array``."""
    if device_of(device) == "gpu":
        return upload(array)
    return array


def to_host(value) -> np.ndarray:
    """``value`` as a host array (a GPU array is copied after its errors are checked)."""
    if is_device_array(value):
        from . import cuda_errors

        cuda_errors.check()
        return download(value)
    return value
