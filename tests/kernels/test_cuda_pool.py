"""The CUDA pooling kernels without a GPU: each of graphc.kernels.cuda.pool's kernels
compiled to PTX for compute capability 9.0 in every storage dtype (where numba-cuda and
NVVM are installed: the ``cuda`` extra), with no atomics (gradients gather in a fixed
order). Running them is tests/kernels/cudasim_pool.py (the simulator, its own process)."""

from __future__ import annotations

import re

import pytest
from graphc.kernels.cuda import pool

from graphc.codegen.cuda_ptx import MAX_PTX_VERSION, ptx_version
from tests.codegen.ptx_probe import ptx_unavailable


@pytest.fixture(scope="module")
def nvvm():
    reason = ptx_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("dtype", pool.DTYPES)
@pytest.mark.parametrize("name", pool.KERNELS)
def test_each_kernel_compiles_to_ptx_for_cc_9_0_without_atomics(nvvm, name, dtype):
    ptx = pool.ptx_for(name, dtype, cc=(9, 0))
    assert ptx_version(ptx) <= MAX_PTX_VERSION
    assert re.search(r"^\s*\.target\s+sm_90\b", ptx, re.M)
    assert ".entry" in ptx and "atom." not in ptx


def test_an_unknown_kernel_or_dtype_is_named():
    with pytest.raises(ValueError, match="no pooling kernel 'median'.*max_select"):
        pool.argument_types("median", "float32")
    with pytest.raises(TypeError, match="not int32"):
        pool.compute_dtype("int32")
