"""graphc.kernels.cpu.col2im: the numba col2im equals the NumPy strided adds. (Its numba
cache, in graphc's cache and verified before use, is tested in
tests/codegen/test_cache_trust.py.)"""

import numpy as np
import pytest
from graphc.kernels.cpu import col2im, conv_im2col


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, dilation", [((1, 1), (1, 1)), ((2, 1), (1, 2)),
                                              ((3, 2), (2, 1))])
def test_numba_col2im_equals_the_numpy_adds(dtype, stride, dilation):
    rng = np.random.default_rng(0)
    n, c, kh, kw, oh, ow = 2, 3, 3, 2, 4, 5
    (sh, sw), (dh, dw) = stride, dilation
    h, w = sh * (oh - 1) + dh * (kh - 1) + 2, sw * (ow - 1) + dw * (kw - 1) + 1
    cols = rng.standard_normal((n, c, kh, kw, oh, ow)).astype(dtype)
    want, got = np.empty((n, c, h, w), dtype), np.full((n, c, h, w), np.nan, dtype)
    conv_im2col.col2im(cols, want, sh, sw, dh, dw)
    col2im.col2im(cols, got, sh, sw, dh, dw)
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-14)
    assert want[:, :, -1].sum() == 0  # the row no window reads stays zero in both
