"""graphc.kernels.cpu.col2im: the numba col2im equals the NumPy strided adds, and its
numba cache is guarded."""

import os
import subprocess
import sys

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


def test_a_corrupt_cache_entry_is_rebuilt(tmp_path):
    """numba's on-disk cache of the hand-written kernels is guarded as the generated
    kernels' is: a damaged index is deleted and the kernel compiled again."""
    script = ("import numpy as np\n"
              "from graphc.kernels.cpu.col2im import col2im\n"
              "out = np.empty((1, 1, 3, 3), np.float32)\n"
              "col2im(np.ones((1, 1, 2, 2, 2, 2), np.float32), out, 1, 1, 1, 1)\n"
              "print(out.sum())\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run() -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "16.0"
        return done

    run()
    (index,) = tmp_path.rglob("col2im.col2im-*.nbi")
    index.write_bytes(b"not a numba index")
    assert "corrupt numba cache" in run().stderr
    assert "corrupt" not in run().stderr  # rebuilt: the next process loads it cleanly
