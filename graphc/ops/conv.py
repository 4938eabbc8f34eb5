"""2-D convolution on NCHW tensors and its two gradients, each an op of its own.

- ``conv2d(x, w)``: x ``(N, C, H, W)``, w ``(O, C // groups, KH, KW)`` → ``(N, O, OH, OW)``;
- ``conv2d_backward_data(w, dy)`` → the gradient with respect to x (attr ``in_hw``);
- ``conv2d_backward_filter(x, dy)`` → the gradient with respect to w (attr ``kernel``).

All three take attrs ``stride``, ``padding``, ``dilation`` (pairs) and ``groups``, and are
linear in each input, so their VJPs are the other two: gradients of any order are
ordinary graph nodes. The output size is ``(H + 2*ph - dh*(KH-1) - 1) // sh + 1``
(MegEngine's floor rule). The NumPy references add one ``einsum`` per kernel offset;
compiled Programs call their backend's library kernels (on the CPU: im2col + BLAS,
measured faster than direct loops here: docs/performance.md). float16 is computed in
float32.

>>> import numpy as np
>>> from graphc.ir import buffer_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.ones((1, 2, 5, 5), np.float32), "cpux")
>>> w = buffer_node(np.ones((4, 2, 3, 3), np.float32), "cpux")
>>> apply("conv2d", [x, w], stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1).type
TensorType(shape=(1, 4, 3, 3), dtype=dtype('float32'), device='cpux')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, TensorType
from .registry import DTypeError, ShapeError, check_devices, is_float, register


def out_size(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    """Output length of a window sweep: ``(size + 2*pad - dilation*(kernel-1) - 1) // stride + 1``.

    >>> out_size(28, 5, 1, 2), out_size(14, 2, 2, 0)
    (28, 7)
    """
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def check_geometry(kernel: tuple[int, int], hw: tuple[int, int], attrs: Attrs,
                   dilated: bool = True) -> tuple[int, int]:
    """The output (OH, OW) of a ``kernel`` sweep over an image of size ``hw``; errors for
    non-positive strides/dilations, negative padding or a kernel larger than the padded
    image."""
    stride, padding = attrs["stride"], attrs["padding"]
    dilation = attrs["dilation"] if dilated else (1, 1)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(kernel) < 1:
        raise ShapeError(f"needs kernel, stride and dilation >= 1 and padding >= 0, got "
                         f"kernel {kernel}, stride {stride}, padding {padding}"
                         + (f", dilation {dilation}" if dilated else ""))
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(s + 2 * p for s, p in zip(hw, padding))
    if extent[0] > padded[0] or extent[1] > padded[1]:
        what = f"kernel {kernel}" + (f" dilated by {dilation}" if max(dilation) > 1 else "")
        raise ShapeError(f"{what} spans {extent}, larger than the input {hw} padded by "
                         f"{padding} to {padded}")
    return tuple(out_size(s, k, st, p, d)
                 for s, k, st, p, d in zip(hw, kernel, stride, padding, dilation))


def _check_float(types: Sequence[TensorType]) -> None:
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        raise DTypeError(f"operand dtypes differ: {' vs '.join(t.dtype.name for t in types)}")
    if not is_float(types[0].dtype):
        raise DTypeError(f"expects floating-point operands, got {types[0].dtype.name}")
    check_devices(types)


def _check_4d(**named: TensorType) -> None:
    for name, t in named.items():
        if t.ndim != 4:
            raise ShapeError(f"{name} must be 4-D, got shape {t.shape}")


def _check_groups(channels: int, w: tuple[int, ...], groups: int, what: str) -> None:
    if groups < 1 or channels % groups or w[0] % groups:
        raise ShapeError(f"groups={groups} must divide the {channels} {what} channels and "
                         f"the {w[0]} output channels (weight {w})")
    if w[1] * groups != channels:
        raise ShapeError(f"{what} has {channels} channels but weight {w} with groups={groups} "
                         f"expects {w[1] * groups}")


def _infer_conv2d(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, w = types
    _check_4d(input=x, weight=w)
    _check_float(types)
    _check_groups(x.shape[1], w.shape, attrs["groups"], "input")
    oh, ow = check_geometry(w.shape[2:], x.shape[2:], attrs)
    return x.with_shape((x.shape[0], w.shape[0], oh, ow))


def _check_grad_shape(dy: TensorType, n: int, o: int, ohw: tuple[int, int]) -> None:
    if dy.shape != (n, o) + tuple(ohw):
        raise ShapeError(f"output gradient has shape {dy.shape}, expected {(n, o) + tuple(ohw)}")


def _infer_backward_data(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    w, dy = types
    _check_4d(weight=w, output_gradient=dy)
    _check_float(types)
    channels = w.shape[1] * attrs["groups"]
    _check_groups(channels, w.shape, attrs["groups"], "input")
    in_hw = tuple(attrs["in_hw"])
    _check_grad_shape(dy, dy.shape[0], w.shape[0], check_geometry(w.shape[2:], in_hw, attrs))
    return dy.with_shape((dy.shape[0], channels) + in_hw)


def _infer_backward_filter(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, dy = types
    _check_4d(input=x, output_gradient=dy)
    _check_float(types)
    groups, kernel = attrs["groups"], tuple(attrs["kernel"])
    w_shape = (dy.shape[1], x.shape[1] // max(groups, 1)) + kernel
    _check_groups(x.shape[1], w_shape, groups, "input")
    _check_grad_shape(dy, x.shape[0], dy.shape[1], check_geometry(kernel, x.shape[2:], attrs))
    return x.with_shape(w_shape)


# ---- NumPy references ------------------------------------------------------------


def compute_float(*arrays: np.ndarray) -> list[np.ndarray]:
    """float16 arrays as float32 (the CPU computes float16 in float32), others as is."""
    return [a.astype(np.float32) if a.dtype == np.float16 else a for a in arrays]


def _offsets(attrs: Attrs, kernel: tuple[int, int], ohw: tuple[int, int]):
    """Each kernel offset (i, j) with the strided slices of the padded input it reads."""
    (sh, sw), (dh, dw) = attrs["stride"], attrs["dilation"]
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            yield i, j, (slice(None), slice(None),
                         slice(i * dh, i * dh + sh * (ohw[0] - 1) + 1, sh),
                         slice(j * dw, j * dw + sw * (ohw[1] - 1) + 1, sw))


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    (ph, pw) = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, ...) → (N, groups, C // groups, ...)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _conv2d_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, w = compute_float(*xs)
    g = attrs["groups"]
    xp = _pad(x, attrs["padding"])
    ohw = check_geometry(w.shape[2:], x.shape[2:], attrs)
    wg = _grouped(w[None], g)[0]  # (g, O/g, C/g, KH, KW)
    out = np.zeros((x.shape[0], g, w.shape[0] // g) + ohw, x.dtype)
    for i, j, window in _offsets(attrs, w.shape[2:], ohw):
        out += np.einsum("ngchw,goc->ngohw", _grouped(xp[window], g), wg[..., i, j])
    return out.reshape(x.shape[0], w.shape[0], *ohw)


def _backward_data_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    w, dy = compute_float(*xs)
    g, (ph, pw) = attrs["groups"], attrs["padding"]
    h, width = attrs["in_hw"]
    wg = _grouped(w[None], g)[0]
    dxp = np.zeros((dy.shape[0], g, w.shape[1], h + 2 * ph, width + 2 * pw), dy.dtype)
    dyg = _grouped(dy, g)
    for i, j, window in _offsets(attrs, w.shape[2:], dy.shape[2:]):
        dxp[(slice(None),) + window] += np.einsum("ngohw,goc->ngchw", dyg, wg[..., i, j])
    dx = dxp[..., ph:ph + h, pw:pw + width]
    return dx.reshape(dy.shape[0], g * w.shape[1], h, width)


def _backward_filter_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, dy = compute_float(*xs)
    g, kernel = attrs["groups"], tuple(attrs["kernel"])
    xp = _grouped(_pad(x, attrs["padding"]), g)
    dyg = _grouped(dy, g)
    dw = np.zeros((g, dy.shape[1] // g, x.shape[1] // g) + kernel, x.dtype)
    for i, j, window in _offsets(attrs, kernel, dy.shape[2:]):
        dw[..., i, j] = np.einsum("ngohw,ngchw->goc", dyg, xp[(slice(None),) + window])
    return dw.reshape(dy.shape[1], x.shape[1] // g, *kernel)


register("conv2d", "opaque", _infer_conv2d, _conv2d_reference)
register("conv2d_backward_data", "opaque", _infer_backward_data, _backward_data_reference)
register("conv2d_backward_filter", "opaque", _infer_backward_filter,
         _backward_filter_reference)


# ---- gradients (VJP rules) -------------------------------------------------------
# conv2d is bilinear in (x, w): with B(x, w, dy) = <conv2d(x, w), dy>, each op below is
# the derivative of B in one argument, so each one's VJP is built from the other two.

from .registry import apply, defvjp  # noqa: E402


def _geometry_attrs(node) -> dict:
    a = node.attrs
    return {"stride": a["stride"], "padding": a["padding"], "dilation": a["dilation"],
            "groups": a["groups"]}


def _data(w, dy, x_type: TensorType, geo: dict):
    return apply("conv2d_backward_data", [w, dy], in_hw=tuple(x_type.shape[2:]), **geo)


def _filter(x, dy, w_type: TensorType, geo: dict):
    return apply("conv2d_backward_filter", [x, dy], kernel=tuple(w_type.shape[2:]), **geo)


@defvjp("conv2d")
def _conv2d_vjp(node, g):
    x, w = node.inputs
    geo = _geometry_attrs(node)
    return _data(w, g, x.type, geo), _filter(x, g, w.type, geo)


@defvjp("conv2d_backward_data")
def _backward_data_vjp(node, g):
    w, dy = node.inputs
    geo = _geometry_attrs(node)
    return _filter(g, dy, w.type, geo), apply("conv2d", [g, w], **geo)


@defvjp("conv2d_backward_filter")
def _backward_filter_vjp(node, g):
    x, dy = node.inputs
    geo = _geometry_attrs(node)
    return _data(g, dy, x.type, geo), apply("conv2d", [x, g], **geo)
