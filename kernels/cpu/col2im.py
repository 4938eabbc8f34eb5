"""col2im for the convolution input gradient: each window's column added back into the
(padded) input, as one numba loop nest.

The im2col input gradient (:func:`graphc.kernels.cpu.conv_im2col.conv2d_backward_data`)
is one matrix product, then ``KH*KW`` strided NumPy adds of ``(N, C, OH, OW)`` slices.
Those adds run with ``OW``-long inner loops (10 on LeNet's second layer), so NumPy's
per-row overhead dominates: 2.3 ms of the 3.0 ms input gradient of LeNet conv2 at batch
64, against the loops here (``python -m graphc.bench.conv`` prints both; figures in
docs/performance.md). Compiled once per dtype and cached on disk, like the max-pool
gradient.

>>> import numpy as np
>>> cols = np.ones((1, 1, 2, 2, 2, 2), np.float32)   # N, C, KH, KW, OH, OW
>>> out = np.empty((1, 1, 3, 3), np.float32)
>>> col2im(cols, out, 1, 1, 1, 1); out[0, 0].tolist()
[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
"""

from __future__ import annotations

from numba import njit, prange

from ...codegen.numba_cache import use_graphc_cache
from .conv_direct import PARALLEL


@njit(**PARALLEL)
def col2im(cols, out, sh, sw, dh, dw):  # pragma: no cover - numba
    """``out`` (N, C, H, W) = the sum of every window column of ``cols`` (N, C, KH, KW,
    OH, OW) at the input positions it was read from (stride ``sh, sw``, dilation
    ``dh, dw``; ``out`` is the padded input, overwritten)."""
    n_batch, n_chan, kh, kw, oh, ow = cols.shape
    height, width = out.shape[2], out.shape[3]
    for task in prange(n_batch * n_chan):
        n = task // n_chan
        c = task - n * n_chan
        plane = out[n, c]
        for y in range(height):
            for x in range(width):
                plane[y, x] = 0
        for i in range(kh):
            for j in range(kw):
                window = cols[n, c, i, j]
                for y in range(oh):
                    row = plane[y * sh + i * dh]
                    src = window[y]
                    if sw == 1:  # unit stride: a contiguous add that vectorises
                        dst = row[j * dw:j * dw + ow]
                        for x in range(ow):
                            dst[x] += src[x]
                    else:
                        for x in range(ow):
                            row[x * sw + j * dw] += src[x]


# Cached in graphc's kernel cache, verified before use (graphc.codegen.numba_cache).
use_graphc_cache(col2im)

__all__ = ["col2im"]
