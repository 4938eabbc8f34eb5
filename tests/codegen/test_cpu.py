"""The loop-kernel generator (graphc/codegen/cpu.py): 0-d input arrays in serial and
parallel kernels."""

import numpy as np
import pytest

import graphc
from graphc.codegen.cpu_schedule import PARALLEL_MIN_ELEMENTS


@pytest.mark.parametrize("rows", [4, PARALLEL_MIN_ELEMENTS // 256 + 1])
def test_a_0d_array_is_read_once_before_the_loops(rows):
    """A 0-d buffer (an optimizer's learning rate) in an elementwise kernel and in a full
    reduction, below and above the parallel threshold (parfor cannot index a 0-d array
    inside a prange loop, so the kernel reads it before its loops)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 256)).astype(np.float32)
    lr = np.asarray(np.float32(0.25))
    tx, tlr = graphc.tensor(x), graphc.tensor(lr)
    assert tlr.shape == ()
    scaled = tx - tlr * tx
    total = (tx * tlr).sum()
    source = "\n".join(k.source for k in graphc.explain(scaled, total).kernels)
    assert "[()]" in source
    np.testing.assert_allclose(scaled.numpy(), x - lr * x, rtol=1e-6)
    np.testing.assert_allclose(total.item(), (x.astype(np.float64) * 0.25).sum(), rtol=1e-4)
