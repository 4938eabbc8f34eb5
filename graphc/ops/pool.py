"""2-D max and average pooling on NCHW tensors, with their gradients as ops.

Attrs: ``kernel``, ``stride``, ``padding`` (pairs); average pooling also has ``mode``:
``"average"`` divides by the window area, ``"average_count_exclude_padding"`` (MegEngine's
default) by the number of real elements in the window. Padded positions never win a max.
Padding must be smaller than the kernel, so every window holds a real element.

- ``max_pool2d(x)``; ``max_pool2d_backward(x, dy)`` sends each window's gradient to its
  *first* maximum in row-major order (ties are not split; a NaN counts as the maximum);
  ``max_pool2d_select(x, g)`` reads ``g`` at those same positions: it is the VJP of the
  backward op, so second-order gradients through max pooling are graph nodes too;
- ``avg_pool2d(x)``; ``avg_pool2d_backward(dy)`` (attr ``in_hw``) spreads each window's
  gradient evenly. Both are linear: each is the other's VJP.

Compiled Programs call their backend's pooling kernels (on the CPU, :mod:`graphc.kernels.cpu.pool`).

>>> import numpy as np
>>> from graphc.ir import buffer_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), "cpux")
>>> apply("max_pool2d", [x], kernel=(2, 2), stride=(2, 2), padding=(0, 0)).type.shape
(1, 1, 2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, TensorType
from .conv import _check_4d, _check_float, check_geometry, compute_float
from .registry import ShapeError, register

MODES = ("average", "average_count_exclude_padding")


def _output_hw(x: TensorType, attrs: Attrs) -> tuple[int, int]:
    kernel, padding = tuple(attrs["kernel"]), tuple(attrs["padding"])
    if padding[0] >= kernel[0] or padding[1] >= kernel[1]:
        raise ShapeError(f"padding {padding} must be smaller than the kernel {kernel}")
    return check_geometry(kernel, x.shape[2:], attrs, dilated=False)


def _infer_pool(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (x,) = types
    _check_4d(input=x)
    _check_float(types)
    if attrs.get("mode", MODES[0]) not in MODES:
        raise ShapeError(f"mode must be one of {MODES}, got {attrs['mode']!r}")
    return x.with_shape(x.shape[:2] + _output_hw(x, attrs))


def _infer_backward(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    """``(x, dy)`` → the shape of x; dy must have the pooled shape of x."""
    x, dy = types
    _check_4d(input=x, output_gradient=dy)
    _check_float(types)
    want = x.shape[:2] + _output_hw(x, attrs)
    if dy.shape != want:
        raise ShapeError(f"output gradient has shape {dy.shape}, expected {want} for input "
                         f"{x.shape}")
    return x


def _infer_select(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    """``(x, g)`` of one shape → the pooled shape of x."""
    x, g = types
    if g.shape != x.shape:
        raise ShapeError(f"values to select have shape {g.shape}, expected the input's "
                         f"{x.shape}")
    _check_float(types)
    return _infer_pool(types[:1], attrs)


def _infer_avg_backward(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (dy,) = types
    return _infer_backward((dy.with_shape(dy.shape[:2] + tuple(attrs["in_hw"])), dy), attrs)


# ---- NumPy references ------------------------------------------------------------


def _windows(x: np.ndarray, attrs: Attrs, fill: float) -> np.ndarray:
    """(N, C, OH, OW, KH*KW): every window of ``x`` padded with ``fill``, row-major."""
    (kh, kw), (sh, sw), (ph, pw) = attrs["kernel"], attrs["stride"], attrs["padding"]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return win[:, :, :sh * (oh - 1) + 1:sh, :sw * (ow - 1) + 1:sw].reshape(
        x.shape[0], x.shape[1], oh, ow, kh * kw)


def _first_max(x: np.ndarray, attrs: Attrs) -> np.ndarray:
    """Index of each window's first maximum (np.argmax: first occurrence, NaN wins)."""
    return np.argmax(_windows(x, attrs, -np.inf), axis=-1)


def _scatter_windows(values: np.ndarray, index: np.ndarray, x_shape: tuple,
                     attrs: Attrs) -> np.ndarray:
    """Add ``values[n, c, i, j]`` at window position ``index[n, c, i, j]`` of an
    array of ``x_shape`` (``index`` None: at every position of the window)."""
    (kh, kw), (sh, sw), (ph, pw) = attrs["kernel"], attrs["stride"], attrs["padding"]
    n, c, h, w = x_shape
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), values.dtype)
    oh, ow = values.shape[2:]
    for a in range(kh):
        for b in range(kw):
            part = values if index is None else np.where(index == a * kw + b, values, 0)
            out[:, :, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw] += part
    return out[:, :, ph:ph + h, pw:pw + w]


def _max_pool_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    (x,) = compute_float(*xs)
    win = _windows(x, attrs, -np.inf)
    return np.take_along_axis(win, np.argmax(win, axis=-1)[..., None], -1)[..., 0]


def _max_backward_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, dy = compute_float(*xs)
    return _scatter_windows(dy, _first_max(x, attrs), x.shape, attrs)


def _max_select_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, g = compute_float(*xs)
    index = _first_max(x, attrs)[..., None]
    return np.take_along_axis(_windows(g, attrs, 0), index, -1)[..., 0]


def _counts(attrs: Attrs, hw: tuple[int, int]) -> np.ndarray:
    """Each window's divisor: its area, or its number of real elements."""
    if attrs["mode"] == "average":
        (kh, kw) = attrs["kernel"]
        return np.asarray(kh * kw)
    return _windows(np.ones((1, 1) + tuple(hw)), attrs, 0).sum(-1)[0, 0]


def _avg_pool_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    (x,) = compute_float(*xs)
    return (_windows(x, attrs, 0).sum(-1) / _counts(attrs, x.shape[2:])).astype(x.dtype)


def _avg_backward_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    (dy,) = compute_float(*xs)
    hw = tuple(attrs["in_hw"])
    share = (dy / _counts(attrs, hw)).astype(dy.dtype)
    return _scatter_windows(share, None, dy.shape[:2] + hw, attrs)


# ---- registration ------------------------------------------------------------------


register("max_pool2d", "opaque", _infer_pool, _max_pool_reference)
register("max_pool2d_backward", "opaque", _infer_backward, _max_backward_reference)
register("max_pool2d_select", "opaque", _infer_select, _max_select_reference)
register("avg_pool2d", "opaque", _infer_pool, _avg_pool_reference)
register("avg_pool2d_backward", "opaque", _infer_avg_backward, _avg_backward_reference)


# ---- gradients (VJP rules) -------------------------------------------------------

from .registry import apply, defvjp  # noqa: E402


def _pool_attrs(node, *names: str) -> dict:
    return {k: node.attrs[k] for k in ("kernel", "stride", "padding", *names)}


@defvjp("max_pool2d")
def _max_pool_vjp(node, g):
    (x,) = node.inputs
    return (apply("max_pool2d_backward", [x, g], **_pool_attrs(node)),)


# The positions of the maxima are piecewise constant in x: no gradient flows to x.
@defvjp("max_pool2d_backward")
def _max_backward_vjp(node, g):
    x, _ = node.inputs
    return None, apply("max_pool2d_select", [x, g], **_pool_attrs(node))


@defvjp("max_pool2d_select")
def _max_select_vjp(node, g):
    x, _ = node.inputs
    return None, apply("max_pool2d_backward", [x, g], **_pool_attrs(node))


@defvjp("avg_pool2d")
def _avg_pool_vjp(node, g):
    (x,) = node.inputs
    return (apply("avg_pool2d_backward", [g], in_hw=tuple(x.type.shape[2:]),
                  **_pool_attrs(node, "mode")),)


@defvjp("avg_pool2d_backward")
def _avg_backward_vjp(node, g):
    return (apply("avg_pool2d", [g], **_pool_attrs(node, "mode")),)
