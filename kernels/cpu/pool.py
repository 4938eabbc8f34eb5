"""The CPU pooling kernels graphc's pooling ops call, picked per op by measurement.

``python -m graphc.bench.conv`` times numba loops (:mod:`graphc.kernels.cpu.pool_direct`)
against strided whole-array NumPy (:mod:`graphc.kernels.cpu.pool_strided`) on the LeNet
shapes. Strided NumPy won the max forward and both average kernels (2x to 10x: a 2x2
window is four array operations); the numba loops won the max-pool gradient (1.2x to 4x:
finding each window's first maximum takes five array operations per window position
in NumPy, one pass in a loop), so that one kernel is compiled (once per dtype, cached
on disk). docs/performance.md has the figures.

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> out = np.empty((1, 1, 2, 2), np.float32)
>>> max_pool2d_forward(x, out, 2, 2, 2, 2, 0, 0); out.ravel().tolist()
[5.0, 7.0, 13.0, 15.0]
"""

from __future__ import annotations

from .pool_strided import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_forward


def max_pool2d_backward(x, dy, dx, kh, kw, sh, sw, ph, pw) -> None:
    """The max-pool gradient: numba loops (:mod:`graphc.kernels.cpu.pool_direct`),
    imported at the first call so importing this module never imports numba."""
    from .pool_direct import max_pool2d_backward as kernel

    kernel(x, dy, dx, kh, kw, sh, sw, ph, pw)


__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "max_pool2d_backward",
           "max_pool2d_forward"]
