"""graphc.kernels.cpu.pool_direct against direct loops (tests/kernels/cpu/conv_cases.py)."""

import numpy as np
import pytest
from graphc.kernels.cpu import pool_direct

from tests.kernels.cpu.conv_cases import check_max_pool_nan, check_pool

DTYPES = [np.float64]  # one compile per kernel: mostly the measured alternative


@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_matches_direct_loops(dtype):
    check_pool(pool_direct, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan(dtype):
    check_max_pool_nan(pool_direct, dtype)
