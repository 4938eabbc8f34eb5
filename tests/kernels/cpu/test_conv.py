"""graphc.kernels.cpu.conv: the implementations the conv ops call."""

import numpy as np
from graphc.kernels.cpu import conv, conv_im2col

from tests.kernels.cpu.conv_cases import check_conv


def test_the_measured_choice_is_im2col_and_correct():
    assert conv.conv2d_forward is conv_im2col.conv2d_forward
    assert conv.conv2d_backward_filter is conv_im2col.conv2d_backward_filter
    check_conv(conv, np.float32)  # the input gradient: im2col's product, numba's col2im
    check_conv(conv, np.float64)
