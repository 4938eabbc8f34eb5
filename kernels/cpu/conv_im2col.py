"""2-D convolution as im2col + BLAS: NumPy copies and ``np.matmul`` into preallocated
buffers, no compiled code of its own (so no compile latency).

``cols`` holds, for every output position, the input values its window reads:
shape ``(N, C, KH, KW, OH, OW)``, seen as ``(N, groups, C/groups*KH*KW, OH*OW)`` for the
matrix products. The forward pass is one batched product ``w @ cols``; the input gradient
is ``w.T @ dy`` scattered back over the windows (col2im, ``KH*KW`` strided adds); the
weight gradient is ``dy @ cols.T`` summed over the batch. Arguments are as in
:mod:`graphc.kernels.cpu.conv_direct`; inputs must be C-contiguous.

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> w = np.ones((1, 1, 2, 2), np.float32)
>>> out = np.empty((1, 1, 3, 3), np.float32)
>>> conv2d_forward(x, w, out, 1, 1, 0, 0, 1, 1, 1)
>>> out[0, 0, 0].tolist()
[10.0, 14.0, 18.0]
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .workspace import scratch


def _padded(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """``x`` with ``ph`` / ``pw`` zero rows / columns on each side (scratch memory)."""
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = scratch("conv_pad", (n, c, h + 2 * ph, w + 2 * pw), x.dtype)
    xp[:, :, :ph] = 0
    xp[:, :, ph + h:] = 0
    xp[:, :, ph:ph + h, :pw] = 0
    xp[:, :, ph:ph + h, pw + w:] = 0
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def im2col(x: np.ndarray, kernel: tuple[int, int], out_hw: tuple[int, int],
           sh: int, sw: int, ph: int, pw: int, dh: int, dw: int) -> np.ndarray:
    """The windows of ``x`` as a scratch array of shape (N, C, KH, KW, OH, OW)."""
    xp = _padded(x, ph, pw)
    n, c = x.shape[:2]
    (kh, kw), (oh, ow) = kernel, out_hw
    s_n, s_c, s_h, s_w = xp.strides
    windows = as_strided(xp, (n, c, kh, kw, oh, ow),
                         (s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w), writeable=False)
    cols = scratch("conv_cols", windows.shape, x.dtype)
    np.copyto(cols, windows)
    return cols


def conv2d_forward(x, w, out, sh, sw, ph, pw, dh, dw, groups) -> None:
    """``out = conv2d(x, w)``, one batched matrix product per group."""
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    oh, ow = out.shape[2:]
    cols = im2col(x, (kh, kw), (oh, ow), sh, sw, ph, pw, dh, dw)
    k = cg * kh * kw
    np.matmul(w.reshape(groups, o // groups, k), cols.reshape(n, groups, k, oh * ow),
              out=out.reshape(n, groups, o // groups, oh * ow))


def col2im(cols, out, sh, sw, dh, dw) -> None:
    """``out`` (N, C, H, W) = the sum of every window column of ``cols`` (N, C, KH, KW,
    OH, OW) at the input positions it was read from, as ``KH*KW`` strided NumPy adds."""
    kh, kw, oh, ow = cols.shape[2:]
    out[...] = 0
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            out[:, :, rows, j * dw:j * dw + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]


def conv2d_backward_data(w, dy, dx, sh, sw, ph, pw, dh, dw, groups, col2im=col2im) -> None:
    """``dx``: ``w.T @ dy`` per group, then each window's column added back by
    ``col2im`` (these NumPy adds, or :func:`graphc.kernels.cpu.col2im.col2im`)."""
    n, c, h, width = dx.shape
    o, cg, kh, kw = w.shape
    oh, ow = dy.shape[2:]
    k = cg * kh * kw
    dcols = scratch("conv_dcols", (n, groups, k, oh * ow), dx.dtype)
    np.matmul(w.reshape(groups, o // groups, k).transpose(0, 2, 1),
              dy.reshape(n, groups, o // groups, oh * ow), out=dcols)
    padded = ph or pw
    dxp = scratch("conv_dpad", (n, c, h + 2 * ph, width + 2 * pw), dx.dtype) if padded else dx
    col2im(dcols.reshape(n, c, kh, kw, oh, ow), dxp, sh, sw, dh, dw)
    if padded:
        dx[...] = dxp[:, :, ph:ph + h, pw:pw + width]


def conv2d_backward_filter(x, dy, dwt, sh, sw, ph, pw, dh, dw, groups) -> None:
    """``dwt = sum over the batch of dy @ cols.T`` per group."""
    n = x.shape[0]
    o, cg, kh, kw = dwt.shape
    oh, ow = dy.shape[2:]
    k = cg * kh * kw
    cols = im2col(x, (kh, kw), (oh, ow), sh, sw, ph, pw, dh, dw)
    per_sample = scratch("conv_dw", (n, groups, o // groups, k), dwt.dtype)
    np.matmul(dy.reshape(n, groups, o // groups, oh * ow),
              cols.reshape(n, groups, k, oh * ow).transpose(0, 1, 3, 2), out=per_sample)
    np.sum(per_sample, axis=0, out=dwt.reshape(groups, o // groups, k))


__all__ = ["col2im", "conv2d_backward_data", "conv2d_backward_filter", "conv2d_forward",
           "im2col"]
