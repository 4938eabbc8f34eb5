"""graphc.kernels.cpu.pool against direct loops (tests/kernels/cpu/conv_cases.py)."""

import numpy as np
import pytest
from graphc.kernels.cpu import pool

from tests.kernels.cpu.conv_cases import check_max_pool_nan, check_pool

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_matches_direct_loops(dtype):
    check_pool(pool, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan(dtype):
    check_max_pool_nan(pool, dtype)


def test_the_compiled_kernel_loads_from_the_disk_cache_in_a_new_process():
    import subprocess
    import sys

    x = np.ones((1, 1, 2, 2), np.float32)
    pool.max_pool2d_backward(x, np.ones((1, 1, 1, 1), np.float32), np.empty_like(x),
                             2, 2, 2, 2, 0, 0)  # compiled (or loaded) and cached here
    code = ("import numpy as np\n"
            "from graphc.kernels.cpu import pool, pool_direct\n"
            "x = np.ones((1, 1, 2, 2), np.float32)\n"
            "pool.max_pool2d_backward(x, np.ones((1, 1, 1, 1), np.float32),\n"
            "                         np.empty_like(x), 2, 2, 2, 2, 0, 0)\n"
            "s = pool_direct.max_pool2d_backward.stats\n"
            "print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["1", "0"]
