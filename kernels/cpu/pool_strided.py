"""2-D pooling as ``KH*KW`` whole-array NumPy operations over strided views: no compiled
code, so no compile latency. Same arguments and semantics as
:mod:`graphc.kernels.cpu.pool` (first-maximum gradient routing, NaN wins a max).

Each kernel offset ``(a, b)`` of the window sees the input through one strided view of
the output's shape; a max is ``KH*KW`` ``np.maximum`` calls, an average ``KH*KW`` adds
and one division, and the gradients add back through the same views.

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

from collections.abc import Iterator

import numpy as np

from .workspace import scratch


def _views(a: np.ndarray, out_hw: tuple[int, int], kh: int, kw: int, sh: int, sw: int
           ) -> Iterator[np.ndarray]:
    """For each kernel offset in row-major order, the view of ``a`` it reads."""
    oh, ow = out_hw
    for i in range(kh):
        for j in range(kw):
            yield a[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def _padded(x: np.ndarray, ph: int, pw: int, fill: float, tag: str) -> np.ndarray:
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = scratch(tag, (n, c, h + 2 * ph, w + 2 * pw), x.dtype)
    xp[...] = fill
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _unpad(dxp: np.ndarray, dx: np.ndarray, ph: int, pw: int) -> None:
    if dxp is not dx:
        h, w = dx.shape[2:]
        dx[...] = dxp[:, :, ph:ph + h, pw:pw + w]


def _grad_target(dx: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """A zeroed array to add gradients into: ``dx`` itself, or a padded scratch copy."""
    if ph or pw:
        n, c, h, w = dx.shape
        dxp = scratch("pool_dpad", (n, c, h + 2 * ph, w + 2 * pw), dx.dtype)
    else:
        dxp = dx
    dxp[...] = 0
    return dxp


def _max_into(xp: np.ndarray, out: np.ndarray, kh, kw, sh, sw) -> None:
    views = _views(xp, out.shape[2:], kh, kw, sh, sw)
    np.copyto(out, next(views))
    for view in views:
        np.maximum(out, view, out=out)


def max_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw) -> None:
    """``out`` = the maximum of each window (NaN propagates)."""
    _max_into(_padded(x, ph, pw, -np.inf, "pool_pad"), out, kh, kw, sh, sw)


def max_pool2d_backward(x, dy, dx, kh, kw, sh, sw, ph, pw) -> None:
    """``dx``: each window's ``dy`` added at its first maximum (row-major; a NaN wins)."""
    xp = _padded(x, ph, pw, -np.inf, "pool_pad")
    shape = dy.shape
    best = scratch("pool_best", shape, x.dtype)
    _max_into(xp, best, kh, kw, sh, sw)
    is_nan = np.isnan(best)
    any_nan = bool(is_nan.any())
    taken = scratch("pool_taken", shape, np.bool_)
    taken[...] = False
    hit = scratch("pool_hit", shape, np.bool_)
    part = scratch("pool_part", shape, dy.dtype)
    dxp = _grad_target(dx, ph, pw)
    for view, target in zip(_views(xp, shape[2:], kh, kw, sh, sw),
                            _views(dxp, shape[2:], kh, kw, sh, sw)):
        np.equal(view, best, out=hit)
        if any_nan:  # a NaN maximum is found by isnan, not ==
            hit |= is_nan & np.isnan(view)
        np.greater(hit, taken, out=hit)  # hit and not taken: the window's first maximum
        taken |= hit
        np.multiply(dy, hit, out=part)
        target += part
    _unpad(dxp, dx, ph, pw)


def _counts(shape: tuple, in_hw: tuple[int, int], kh, kw, sh, sw, ph, pw,
            exclude_padding: bool, dtype) -> np.ndarray | float:
    """Each window's divisor: its area, or its number of real elements."""
    if not exclude_padding or (ph == 0 and pw == 0):
        return float(kh * kw)
    ones = np.ones((1, 1) + tuple(in_hw), dtype)
    counts = np.zeros((1, 1) + tuple(shape[2:]), dtype)
    for view in _views(_padded(ones, ph, pw, 0, "pool_count"), shape[2:], kh, kw, sh, sw):
        counts += view
    return counts


def avg_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw, exclude_padding) -> None:
    """``out`` = the mean of each window."""
    views = _views(_padded(x, ph, pw, 0, "pool_pad"), out.shape[2:], kh, kw, sh, sw)
    np.copyto(out, next(views))
    for view in views:
        out += view
    out /= _counts(out.shape, x.shape[2:], kh, kw, sh, sw, ph, pw, exclude_padding, x.dtype)


def avg_pool2d_backward(dy, dx, kh, kw, sh, sw, ph, pw, exclude_padding) -> None:
    """``dx``: each window's ``dy / count`` added to every element of the window."""
    share = scratch("pool_share", dy.shape, dy.dtype)
    np.divide(dy, _counts(dy.shape, dx.shape[2:], kh, kw, sh, sw, ph, pw, exclude_padding,
                          dy.dtype), out=share)
    dxp = _grad_target(dx, ph, pw)
    for target in _views(dxp, dy.shape[2:], kh, kw, sh, sw):
        target += share
    _unpad(dxp, dx, ph, pw)


__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "max_pool2d_backward",
           "max_pool2d_forward"]
