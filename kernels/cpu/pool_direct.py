"""2-D max and average pooling on NCHW arrays (numba, ``prange`` over batch × channels).

Windows are ``kh × kw`` with stride ``sh, sw`` and ``ph, pw`` implicit padding; padded
positions are never read (a max ignores them; an average divides by the window area in
mode ``"average"`` and by the number of real elements with ``exclude_padding``). Each
window holds at least one real element (the ops require padding < kernel size).

Max pooling's gradient goes to the *first* maximum of each window in row-major order,
as PyTorch and cuDNN do (ties are not split); a NaN counts as the maximum, so NaN
propagates forward and its position receives the gradient. Arrays must be
C-contiguous and of one float dtype: each kernel compiles at most once per dtype.

>>> import numpy as np
>>> x = np.array([[[[1., 5.], [5., 2.]]]], np.float32)
>>> out = np.empty((1, 1, 1, 1), np.float32)
>>> max_pool2d_forward(x, out, 2, 2, 2, 2, 0, 0); out.ravel().tolist()
[5.0]
>>> dx = np.empty_like(x)
>>> max_pool2d_backward(x, np.ones_like(out), dx, 2, 2, 2, 2, 0, 0); dx.ravel().tolist()
[0.0, 1.0, 0.0, 0.0]
"""

from __future__ import annotations

from numba import njit, prange

from ...codegen.numba_cache import use_graphc_cache
from .conv_direct import PARALLEL


@njit(inline="always")
def _window(o: int, stride: int, pad: int, k: int, size: int) -> tuple[int, int]:
    start = o * stride - pad
    return max(start, 0), min(start + k, size)


@njit(inline="always")
def _argmax(plane, h0, h1, w0, w1):
    """Row and column of the first maximum (or first NaN) of ``plane[h0:h1, w0:w1]``."""
    best = plane[h0, w0]
    bi, bj = h0, w0
    if best == best:
        for i in range(h0, h1):
            for j in range(w0, w1):
                v = plane[i, j]
                if v > best or v != v:
                    best, bi, bj = v, i, j
                    if v != v:
                        return bi, bj
    return bi, bj


@njit(**PARALLEL)
def max_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw):  # pragma: no cover - numba
    """``out[n, c, i, j]`` = the maximum of window (i, j) of ``x[n, c]``."""
    n_batch, n_chan, height, width = x.shape
    oh_size, ow_size = out.shape[2], out.shape[3]
    for task in prange(n_batch * n_chan):
        n = task // n_chan
        c = task - n * n_chan
        plane = x[n, c]
        for i in range(oh_size):
            h0, h1 = _window(i, sh, ph, kh, height)
            for j in range(ow_size):
                w0, w1 = _window(j, sw, pw, kw, width)
                bi, bj = _argmax(plane, h0, h1, w0, w1)
                out[n, c, i, j] = plane[bi, bj]


@njit(**PARALLEL)
def max_pool2d_backward(x, dy, dx, kh, kw, sh, sw, ph, pw):  # pragma: no cover - numba
    """``dx``: each window's ``dy`` added at the position of its first maximum."""
    n_batch, n_chan, height, width = x.shape
    oh_size, ow_size = dy.shape[2], dy.shape[3]
    for task in prange(n_batch * n_chan):
        n = task // n_chan
        c = task - n * n_chan
        plane = x[n, c]
        grad = dx[n, c]
        grad[:, :] = 0
        for i in range(oh_size):
            h0, h1 = _window(i, sh, ph, kh, height)
            for j in range(ow_size):
                w0, w1 = _window(j, sw, pw, kw, width)
                bi, bj = _argmax(plane, h0, h1, w0, w1)
                grad[bi, bj] += dy[n, c, i, j]


@njit(**PARALLEL)
def avg_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw, exclude_padding):  # pragma: no cover
    """``out[n, c, i, j]`` = the mean of window (i, j) of ``x[n, c]``."""
    n_batch, n_chan, height, width = x.shape
    oh_size, ow_size = out.shape[2], out.shape[3]
    for task in prange(n_batch * n_chan):
        n = task // n_chan
        c = task - n * n_chan
        plane = x[n, c]
        for i in range(oh_size):
            h0, h1 = _window(i, sh, ph, kh, height)
            for j in range(ow_size):
                w0, w1 = _window(j, sw, pw, kw, width)
                total = 0.0  # float64: exact for float64, no float32 drift
                for a in range(h0, h1):
                    for b in range(w0, w1):
                        total += plane[a, b]
                count = (h1 - h0) * (w1 - w0) if exclude_padding else kh * kw
                out[n, c, i, j] = total / count


@njit(**PARALLEL)
def avg_pool2d_backward(dy, dx, kh, kw, sh, sw, ph, pw, exclude_padding):  # pragma: no cover
    """``dx``: each window's ``dy / count`` added to every element of the window."""
    n_batch, n_chan, height, width = dx.shape
    oh_size, ow_size = dy.shape[2], dy.shape[3]
    for task in prange(n_batch * n_chan):
        n = task // n_chan
        c = task - n * n_chan
        grad = dx[n, c]
        grad[:, :] = 0
        for i in range(oh_size):
            h0, h1 = _window(i, sh, ph, kh, height)
            for j in range(ow_size):
                w0, w1 = _window(j, sw, pw, kw, width)
                count = (h1 - h0) * (w1 - w0) if exclude_padding else kh * kw
                share = dy[n, c, i, j] / count
                for a in range(h0, h1):
                    for b in range(w0, w1):
                        grad[a, b] += share


# Cached in graphc's kernel cache, verified before use (graphc.codegen.numba_cache).
use_graphc_cache(max_pool2d_forward, max_pool2d_backward, avg_pool2d_forward, avg_pool2d_backward)

__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "max_pool2d_backward",
           "max_pool2d_forward"]
