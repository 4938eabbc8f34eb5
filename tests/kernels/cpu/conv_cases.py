"""Shared checks for the interchangeable conv and pooling kernel modules: each module's
results against the direct-loop references of tests/ops/conv_reference.py."""

from __future__ import annotations

import numpy as np

from tests.ops import conv_reference as ref

# (x shape, weight shape, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 2), (1, 1), (1, 0), (1, 1), 1),
    ((1, 4, 9, 8), (6, 2, 3, 3), (2, 3), (2, 1), (2, 1), 2),
    ((2, 3, 6, 6), (6, 1, 3, 3), (1, 2), (1, 1), (1, 2), 3),  # depthwise
    ((2, 1, 5, 5), (2, 1, 5, 5), (1, 1), (0, 0), (1, 1), 1),  # 1x1 output
]
# (x shape, kernel, stride, padding)
POOL_CASES = [
    ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 7, 5), (3, 2), (2, 1), (1, 1)),
    ((1, 1, 5, 7), (3, 3), (1, 2), (2, 1)),
]


def check_conv(module, dtype) -> None:
    """Forward against direct loops; both gradients as adjoints of the forward."""
    rng = np.random.default_rng(0)
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-11}
    for xs, ws, stride, padding, dilation, groups in CONV_CASES:
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        want = ref.conv2d(x, w, stride, padding, dilation, groups)
        geometry = (*stride, *padding, *dilation, groups)
        out = np.full(want.shape, np.nan, dtype)
        module.conv2d_forward(x, w, out, *geometry)
        np.testing.assert_allclose(out, want, **tol)
        dy = rng.standard_normal(want.shape).astype(dtype)
        dx, dw = np.full(xs, np.nan, dtype), np.full(ws, np.nan, dtype)
        module.conv2d_backward_data(w, dy, dx, *geometry)
        module.conv2d_backward_filter(x, dy, dw, *geometry)
        # <conv(x', w), dy> == <x', dx> and <conv(x, w'), dy> == <w', dw> for any x', w'.
        xr, wr = rng.standard_normal(xs), rng.standard_normal(ws)
        np.testing.assert_allclose(
            [(xr * dx).sum(), (wr * dw).sum()],
            [(ref.conv2d(xr, w, stride, padding, dilation, groups) * dy).sum(),
             (ref.conv2d(x, wr, stride, padding, dilation, groups) * dy).sum()], **tol)


def check_pool(module, dtype) -> None:
    """Max and both averages forward against direct loops; gradients: max to the first
    maximum (on inputs with ties), averages as adjoints."""
    rng = np.random.default_rng(1)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 0}
    for xs, kernel, stride, padding in POOL_CASES:
        geometry = (*kernel, *stride, *padding)
        for x in (rng.standard_normal(xs).astype(dtype),
                  rng.integers(0, 3, xs).astype(dtype)):  # many ties
            shape = ref.pooled_shape(x, kernel, stride, padding)
            out = np.full(shape, np.nan, dtype)
            module.max_pool2d_forward(x, out, *geometry)
            np.testing.assert_array_equal(out, ref.max_pool2d(x, kernel, stride, padding))
            dy = rng.standard_normal(shape).astype(dtype)
            dx = np.full(xs, np.nan, dtype)
            module.max_pool2d_backward(x, dy, dx, *geometry)
            np.testing.assert_allclose(dx, ref.max_pool2d_grad(x, dy, kernel, stride, padding),
                                       **tol)
        for mode in ("average", "average_count_exclude_padding"):
            exclude = mode != "average"
            out = np.full(shape, np.nan, dtype)
            module.avg_pool2d_forward(x, out, *geometry, exclude)
            np.testing.assert_allclose(out, ref.avg_pool2d(x, kernel, stride, padding, mode),
                                       **tol)
            dx = np.full(xs, np.nan, dtype)
            module.avg_pool2d_backward(dy, dx, *geometry, exclude)
            xr = rng.standard_normal(xs)
            np.testing.assert_allclose(
                (xr * dx).sum(), (ref.avg_pool2d(xr, kernel, stride, padding, mode) * dy).sum(),
                **tol)


def check_max_pool_nan(module, dtype) -> None:
    """A NaN wins its window and takes the gradient; an inf elsewhere is an ordinary max."""
    x = np.array([[[[1.0, np.nan, 7.0, 2.0], [np.nan, 2.0, 3.0, np.inf]]]], dtype)
    out = np.empty((1, 1, 1, 2), dtype)
    module.max_pool2d_forward(x, out, 2, 2, 2, 2, 0, 0)
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 0, 1] == np.inf
    dx = np.empty_like(x)
    module.max_pool2d_backward(x, np.ones_like(out), dx, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(dx, [[[[0, 1, 0, 0], [0, 0, 0, 1]]]])
