"""The CUDA convolution kernels without a GPU: each of graphc.kernels.cuda.conv's kernels
compiled to PTX for compute capability 9.0 in every storage dtype (where numba-cuda and
NVVM are installed: the ``cuda`` extra), with no atomics (the sums are in a fixed order).
Running them is tests/kernels/cudasim_conv.py (the simulator, its own process)."""

from __future__ import annotations

import re

import pytest
from graphc.kernels.cuda import conv

from graphc.codegen.cuda_ptx import MAX_PTX_VERSION, ptx_version
from tests.codegen.ptx_probe import ptx_unavailable


@pytest.fixture(scope="module")
def nvvm():
    reason = ptx_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("name", conv.KERNELS)
def test_each_kernel_compiles_to_ptx_for_cc_9_0_without_atomics(nvvm, name, dtype):
    ptx = conv.ptx_for(name, dtype, cc=(9, 0))
    assert ptx_version(ptx) <= MAX_PTX_VERSION
    assert re.search(r"^\s*\.target\s+sm_90\b", ptx, re.M)
    assert ".entry" in ptx and "atom." not in ptx


def test_an_unknown_kernel_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="no conv kernel 'gemm'.*im2col"):
        conv.argument_types("gemm", "float32")
