"""graphc.kernels.cpu.pool_strided against direct loops (tests/kernels/cpu/conv_cases.py)."""

import numpy as np
import pytest
from graphc.kernels.cpu import pool_strided

from tests.kernels.cpu.conv_cases import check_max_pool_nan, check_pool

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_matches_direct_loops(dtype):
    check_pool(pool_strided, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan(dtype):
    check_max_pool_nan(pool_strided, dtype)
