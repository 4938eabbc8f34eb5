"""The CPU convolution kernels graphc's conv ops call, picked per op by measurement.

``python -m graphc.bench.conv`` times direct numba loops
(:mod:`graphc.kernels.cpu.conv_direct`) against im2col + BLAS
(:mod:`graphc.kernels.cpu.conv_im2col`) on the LeNet shapes and a 3x32x32 → 32@3x3 layer,
forward and both gradients. im2col + BLAS won every case on this project's machines
(2 cores; 1.3x to 10x, docs/performance.md), so all three ops use it. The input
gradient's col2im step (adding each window's column back) runs as numba loops
(:mod:`graphc.kernels.cpu.col2im`, compiled once per dtype and cached on disk): NumPy's
strided adds were 3–5x slower on LeNet's shapes. Re-measure on a machine where that
differs.

>>> import numpy as np
>>> x = np.ones((1, 1, 3, 3), np.float32); w = np.ones((1, 1, 3, 3), np.float32)
>>> out = np.empty((1, 1, 1, 1), np.float32)
>>> conv2d_forward(x, w, out, 1, 1, 0, 0, 1, 1, 1); float(out[0, 0, 0, 0])
9.0
"""

from __future__ import annotations

from . import conv_im2col
from .conv_im2col import conv2d_backward_filter, conv2d_forward


def conv2d_backward_data(w, dy, dx, sh, sw, ph, pw, dh, dw, groups) -> None:
    """The input gradient: im2col's matrix product, then numba's col2im (imported at the
    first call, so importing this module never imports numba)."""
    from .col2im import col2im

    conv_im2col.conv2d_backward_data(w, dy, dx, sh, sw, ph, pw, dh, dw, groups, col2im)


__all__ = ["conv2d_backward_data", "conv2d_backward_filter", "conv2d_forward"]
