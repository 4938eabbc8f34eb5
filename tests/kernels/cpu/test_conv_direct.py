"""graphc.kernels.cpu.conv_direct against direct loops (tests/kernels/cpu/conv_cases.py)."""

import numpy as np
import pytest
from graphc.kernels.cpu import conv_direct

from tests.kernels.cpu.conv_cases import check_conv

DTYPES = [np.float64]  # one compile per kernel: this module is the measured alternative


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_and_gradients_match_direct_loops(dtype):
    check_conv(conv_direct, dtype)
