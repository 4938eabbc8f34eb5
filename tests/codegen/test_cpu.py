"""The loop-kernel generator (graphc/codegen/cpu.py): 0-d input arrays in serial and
parallel kernels; the passes of a rows kernel's reductions."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
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


def _passes_over_rows(source: str, first_reduced: int) -> int:
    """Loop nests over a row's reduced axes: the loops over the first reduced axis (lanes
    fold over the last one)."""
    return sum(1 for line in source.splitlines()
               if line.strip().startswith(f"for i{first_reduced} in"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_independent_row_reductions_share_one_pass(dtype):
    """BatchNorm's backward shape: sums over (0, 2, 3) that read none of each other run
    in one pass over each row (their shared input computed once per point), a sum that
    reads one of them in the next; each keeps its accumulator and order, so the values
    are the interpreter's."""
    from tests.runtime.compiled import assert_same

    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 16, 10)).astype(dtype)
    y = rng.standard_normal((4, 6, 16, 10)).astype(dtype)
    tx, ty = graphc.tensor(x), graphc.tensor(y)
    masked = tx * (ty > 0)
    total = masked.sum(axis=(0, 2, 3), keepdims=True)
    weighted = (masked * ty).sum(axis=(0, 2, 3), keepdims=True)
    centred = ((masked - total / 160) ** 2).sum(axis=(0, 2, 3))
    compiled = assert_same(total, weighted, centred)
    [kernel] = [k for k in compiled.kernels if len(k.ir.reductions) == 3]
    assert kernel.schedule.form == "rows"
    assert [len(wave) for wave in kernel.schedule.waves] == [2, 1]
    assert _passes_over_rows(kernel.source, 0) == 2
    assert "passes" in str(kernel.schedule)
    want = (x * (y > 0)).astype(np.float64).sum(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(total.numpy(), want, rtol=1e-5)


def test_a_row_argmax_keeps_a_pass_of_its_own():
    """argmax tracks its position with a branch: it is never merged into a shared pass,
    while the sum and max beside it share one."""
    from tests.runtime.compiled import assert_same

    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 40, 30)).astype(np.float32)
    t = graphc.tensor(x)
    compiled = assert_same(t.sum(axis=2), t.max(axis=2), F.argmax(t, axis=2))
    [kernel] = [k for k in compiled.kernels if len(k.ir.reductions) == 3]
    combines = [[kernel.ir.values[r].combine for r in wave] for wave in kernel.schedule.waves]
    assert combines == [["sum", "max"], ["argmax"]]
    assert _passes_over_rows(kernel.source, 2) == 2
