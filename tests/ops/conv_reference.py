"""Independent direct-loop references for convolution and pooling (plain Python loops
over every output element, float64): the answers graphc's ops and kernels must give."""

from __future__ import annotations

import numpy as np


def out_len(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """Cross-correlation: out[n, o, i, j] = sum w[o, c, a, b] * x[n, g*Cg + c, ih, iw]."""
    n_batch, _, h, wd = x.shape
    n_out, cg, kh, kw = w.shape
    oh = out_len(h, kh, stride[0], padding[0], dilation[0])
    ow = out_len(wd, kw, stride[1], padding[1], dilation[1])
    og = n_out // groups
    out = np.zeros((n_batch, n_out, oh, ow))
    for n in range(n_batch):
        for o in range(n_out):
            g = o // og
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0
                    for c in range(cg):
                        for a in range(kh):
                            for b in range(kw):
                                ih = i * stride[0] - padding[0] + a * dilation[0]
                                iw = j * stride[1] - padding[1] + b * dilation[1]
                                if 0 <= ih < h and 0 <= iw < wd:
                                    acc += w[o, c, a, b] * x[n, g * cg + c, ih, iw]
                    out[n, o, i, j] = acc
    return out


def _windows(x, kernel, stride, padding):
    """Yield (n, c, i, j, [(ih, iw) real positions of the window, row-major], area)."""
    n_batch, chans, h, wd = x.shape
    oh = out_len(h, kernel[0], stride[0], padding[0])
    ow = out_len(wd, kernel[1], stride[1], padding[1])
    for n in range(n_batch):
        for c in range(chans):
            for i in range(oh):
                for j in range(ow):
                    cells = [(i * stride[0] - padding[0] + a, j * stride[1] - padding[1] + b)
                             for a in range(kernel[0]) for b in range(kernel[1])]
                    real = [(p, q) for p, q in cells if 0 <= p < h and 0 <= q < wd]
                    yield n, c, i, j, real, len(cells)


def pooled_shape(x, kernel, stride, padding):
    return x.shape[:2] + (out_len(x.shape[2], kernel[0], stride[0], padding[0]),
                          out_len(x.shape[3], kernel[1], stride[1], padding[1]))


def max_pool2d(x, kernel, stride, padding):
    out = np.zeros(pooled_shape(x, kernel, stride, padding))
    for n, c, i, j, real, _ in _windows(x, kernel, stride, padding):
        out[n, c, i, j] = max(x[n, c, p, q] for p, q in real)
    return out


def max_pool2d_grad(x, dy, kernel, stride, padding):
    """Each window's dy goes to its first maximum (row-major)."""
    dx = np.zeros(x.shape)
    for n, c, i, j, real, _ in _windows(x, kernel, stride, padding):
        values = [x[n, c, p, q] for p, q in real]
        p, q = real[int(np.argmax(values))]
        dx[n, c, p, q] += dy[n, c, i, j]
    return dx


def avg_pool2d(x, kernel, stride, padding, mode):
    out = np.zeros(pooled_shape(x, kernel, stride, padding))
    for n, c, i, j, real, area in _windows(x, kernel, stride, padding):
        count = area if mode == "average" else len(real)
        out[n, c, i, j] = sum(x[n, c, p, q] for p, q in real) / count
    return out
