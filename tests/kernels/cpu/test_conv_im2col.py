"""graphc.kernels.cpu.conv_im2col against direct loops (tests/kernels/cpu/conv_cases.py)."""

import numpy as np
import pytest
from graphc.kernels.cpu import conv_im2col

from tests.kernels.cpu.conv_cases import check_conv

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_and_gradients_match_direct_loops(dtype):
    check_conv(conv_im2col, dtype)
