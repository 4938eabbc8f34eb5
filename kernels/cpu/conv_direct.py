"""Direct-loop 2-D convolution on NCHW arrays (numba, ``prange`` over batch × channels).

Three kernels, one per op: the forward pass, the gradient with respect to the input
(``backward_data``) and the gradient with respect to the weight (``backward_filter``).
Each writes every element of its preallocated output. Arrays must be C-contiguous and of
one float dtype (float32 or float64), so each kernel compiles at most twice: they are
specialised on dtype, never on sizes. Geometry arguments are plain ints:
``sh, sw`` stride, ``ph, pw`` padding, ``dh, dw`` dilation, ``groups``.

The weight is ``(O, C // groups, KH, KW)``. Loops run only over the output positions
whose input position lies inside the image (``_valid``), so padding costs nothing.

>>> import numpy as np
>>> import numpy as np
>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> w = np.ones((1, 1, 2, 2), np.float32)
>>> out = np.empty((1, 1, 3, 3), np.float32)
>>> conv2d_forward(x, w, out, 1, 1, 0, 0, 1, 1, 1)
>>> out[0, 0, 0].tolist()
[10.0, 14.0, 18.0]
"""

from __future__ import annotations

from numba import njit, prange

from ...codegen.numba_cache import use_graphc_cache

# Keeps NaN/Inf semantics (no nnan/ninf), lets LLVM vectorise the dot products.
FASTMATH = {"reassoc", "contract"}
PARALLEL = {"parallel": True, "nogil": True, "fastmath": FASTMATH,
            "error_model": "numpy"}


@njit(inline="always")
def _valid(out_size: int, size: int, stride: int, pad: int, offset: int) -> tuple[int, int]:
    """The range of outputs ``o`` with ``0 <= o * stride - pad + offset < size``."""
    low = pad - offset
    lo = -((-low) // stride) if low > 0 else 0
    hi = (size - 1 + pad - offset) // stride + 1
    return lo, max(lo, min(hi, out_size))


@njit(**PARALLEL)
def conv2d_forward(x, w, out, sh, sw, ph, pw, dh, dw, groups):  # pragma: no cover - numba
    """``out[n, o] = sum over c, kh, kw of w[o, c, kh, kw] * x[n, g*Cg + c, shifted]``."""
    n_batch, _, height, width = x.shape
    n_out, cg, kh_size, kw_size = w.shape
    oh_size, ow_size = out.shape[2], out.shape[3]
    og = n_out // groups
    for task in prange(n_batch * n_out):
        n = task // n_out
        o = task - n * n_out
        ci0 = (o // og) * cg
        plane = out[n, o]
        plane[:, :] = 0
        for c in range(cg):
            image = x[n, ci0 + c]
            for kh in range(kh_size):
                oh_lo, oh_hi = _valid(oh_size, height, sh, ph, kh * dh)
                for kw in range(kw_size):
                    ow_lo, ow_hi = _valid(ow_size, width, sw, pw, kw * dw)
                    wv = w[o, c, kh, kw]
                    shift = kw * dw - pw
                    for oh in range(oh_lo, oh_hi):
                        # 1-D slices and loops from 0: LLVM then vectorises them.
                        dst = plane[oh][ow_lo:ow_hi]
                        row = image[oh * sh - ph + kh * dh]
                        if sw == 1:
                            src = row[ow_lo + shift:ow_hi + shift]
                            for j in range(dst.shape[0]):
                                dst[j] += wv * src[j]
                        else:
                            strided = row[ow_lo * sw + shift::sw]
                            for j in range(dst.shape[0]):
                                dst[j] += wv * strided[j]


@njit(**PARALLEL)
def conv2d_backward_data(w, dy, dx, sh, sw, ph, pw, dh, dw, groups):  # pragma: no cover
    """The input gradient: every output position sends ``w * dy`` back to its inputs."""
    n_batch, n_in, height, width = dx.shape
    n_out, cg, kh_size, kw_size = w.shape
    oh_size, ow_size = dy.shape[2], dy.shape[3]
    og = n_out // groups
    for task in prange(n_batch * n_in):
        n = task // n_in
        ci = task - n * n_in
        g = ci // cg
        c = ci - g * cg
        plane = dx[n, ci]
        plane[:, :] = 0
        for oo in range(og):
            o = g * og + oo
            grad = dy[n, o]
            for kh in range(kh_size):
                oh_lo, oh_hi = _valid(oh_size, height, sh, ph, kh * dh)
                for kw in range(kw_size):
                    ow_lo, ow_hi = _valid(ow_size, width, sw, pw, kw * dw)
                    wv = w[o, c, kh, kw]
                    shift = kw * dw - pw
                    for oh in range(oh_lo, oh_hi):
                        src = grad[oh][ow_lo:ow_hi]
                        row = plane[oh * sh - ph + kh * dh]
                        if sw == 1:
                            dst = row[ow_lo + shift:ow_hi + shift]
                            for j in range(src.shape[0]):
                                dst[j] += wv * src[j]
                        else:
                            strided = row[ow_lo * sw + shift::sw]
                            for j in range(src.shape[0]):
                                strided[j] += wv * src[j]


@njit(**PARALLEL)
def conv2d_backward_filter(x, dy, dwt, sh, sw, ph, pw, dh, dw, groups):  # pragma: no cover
    """The weight gradient: ``dwt[o, c, kh, kw] = sum over n, oh, ow of dy * x``."""
    n_batch, _, height, width = x.shape
    n_out, cg, kh_size, kw_size = dwt.shape
    oh_size, ow_size = dy.shape[2], dy.shape[3]
    og = n_out // groups
    for task in prange(n_out * cg):
        o = task // cg
        c = task - o * cg
        ci = (o // og) * cg + c
        acc = dwt[o, c]
        acc[:, :] = 0
        for n in range(n_batch):
            image = x[n, ci]
            grad = dy[n, o]
            for kh in range(kh_size):
                oh_lo, oh_hi = _valid(oh_size, height, sh, ph, kh * dh)
                for kw in range(kw_size):
                    ow_lo, ow_hi = _valid(ow_size, width, sw, pw, kw * dw)
                    shift = kw * dw - pw
                    total = acc[kh, kw]
                    for oh in range(oh_lo, oh_hi):
                        src = grad[oh][ow_lo:ow_hi]
                        row = image[oh * sh - ph + kh * dh]
                        if sw == 1:
                            vals = row[ow_lo + shift:ow_hi + shift]
                            for j in range(src.shape[0]):
                                total += src[j] * vals[j]
                        else:
                            strided = row[ow_lo * sw + shift::sw]
                            for j in range(src.shape[0]):
                                total += src[j] * strided[j]
                    acc[kh, kw] = total


# Cached in graphc's kernel cache, verified before use (graphc.codegen.numba_cache).
use_graphc_cache(conv2d_forward, conv2d_backward_data, conv2d_backward_filter)

__all__ = ["conv2d_backward_data", "conv2d_backward_filter", "conv2d_forward"]
