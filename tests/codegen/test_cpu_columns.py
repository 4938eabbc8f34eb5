"""Column reductions (graphc/codegen/cpu_columns.py): kernels that reduce over leading axes
and keep the last one, compiled, against NumPy; the loop order of their source."""

import re

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.codegen.cpu_schedule import LANE_MIN_ROW, PARALLEL_MIN_ELEMENTS
from tests.runtime.compiled import assert_same, run_compiled, tolerance

rng = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def compiled_backend(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def innermost_loops(source: str) -> list[str]:
    """Loop variables of the innermost loops of ``source`` (a loop with no loop inside)."""
    lines = source.splitlines()
    found = []
    for n, line in enumerate(lines):
        m = re.match(r"(\s*)for (\w+) in", line)
        if not m:
            continue
        depth = len(m.group(1))
        body = []
        for nxt in lines[n + 1:]:
            if len(nxt) - len(nxt.lstrip()) <= depth:
                break
            body.append(nxt)
        if not any(re.match(r"\s*for \w+ in", b) for b in body):
            found.append(m.group(2))
    return found


def accumulation_loop(source: str) -> str:
    """The variable of the loop holding the first array accumulator update
    (``accN[...] = ...`` or ``laneN[...] = ...``)."""
    lines = source.splitlines()
    at = next(n for n, line in enumerate(lines)
              if re.match(r"\s*(acc|lane)\d+\[.*\] = ", line))
    depth = len(lines[at]) - len(lines[at].lstrip())
    for line in reversed(lines[:at]):
        m = re.match(r"(\s*)for (\w+) in", line)
        if m and len(m.group(1)) < depth:
            return m.group(2)
    raise AssertionError(source)


def test_bias_gradient_pattern_is_one_contiguous_kernel():
    """The MLP's bias step: ReLU backward, sum over the batch and the SGD update fused;
    the accumulation's innermost loop runs over the last (contiguous) axis."""
    g = rng.standard_normal((128, 512)).astype(np.float32)
    h = rng.standard_normal((128, 512)).astype(np.float32)
    b = rng.standard_normal(512).astype(np.float32)
    gt, ht, bt = graphc.tensor(g), graphc.tensor(h), graphc.tensor(b)
    masked = gt * (ht > 0)
    new_b = bt - 0.1 * masked.sum(axis=0)
    (got_b, got_m), compiled = run_compiled(new_b, masked)
    want_m = g * (h > 0)
    np.testing.assert_allclose(got_b, b - np.float32(0.1) * want_m.sum(axis=0, dtype=np.float64),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got_m, want_m)
    [kernel] = compiled.kernels
    assert kernel.kernel.reduce_axes == (0,)
    assert accumulation_loop(kernel.source) == "i1"
    assert set(innermost_loops(kernel.source)) == {"i1"}


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_sum_over_axis_0_each_dtype(dtype):
    x = rng.standard_normal((9, 13)) * 5
    if dtype == "bool":
        x = x > 0
    x = x.astype(dtype)
    if dtype.startswith("float"):
        x[2, 3], x[4, 5], x[6, 5], x[1, 7] = np.nan, np.inf, -np.inf, np.inf
    t = graphc.tensor(x, dtype=dtype)
    (got,), compiled = run_compiled(t.sum(axis=0))
    with np.errstate(invalid="ignore"):  # inf + -inf
        want = x.sum(axis=0, dtype=np.float64 if dtype.startswith("float") else np.int64)
    # MegEngine's rules: float sums keep their dtype, int and bool sums are int32
    assert got.dtype == (dtype if dtype.startswith("float") else "int32")
    np.testing.assert_allclose(got, want.astype(got.dtype), equal_nan=True,
                               **tolerance(got.dtype))
    assert accumulation_loop(compiled.kernels[0].source) == "i1"


def test_keepdims_max_min_with_nan_and_inf():
    x = rng.standard_normal((11, 6)).astype(np.float32)
    x[3, 0] = np.nan  # NaN propagates
    x[:, 1] = -np.inf  # all -inf
    x[5, 2] = np.inf
    t = graphc.tensor(x)
    (mx, mn), _ = run_compiled(t.max(axis=0, keepdims=True), t.min(axis=0, keepdims=True))
    np.testing.assert_array_equal(mx, x.max(axis=0, keepdims=True))
    np.testing.assert_array_equal(mn, x.min(axis=0, keepdims=True))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_argmax_argmin_over_axis_0_first_position(dtype):
    x = rng.integers(-3, 3, (10, 7)).astype(dtype)  # many ties
    if dtype == "float32":
        x[4, 1], x[7, 1], x[2, 3] = np.nan, np.nan, np.inf
    t = graphc.tensor(x)
    (amax, amin), _ = run_compiled(F.argmax(t, axis=0), F.argmin(t, axis=0))
    np.testing.assert_array_equal(amax, np.argmax(x, axis=0))
    np.testing.assert_array_equal(amin, np.argmin(x, axis=0))


def test_axes_of_three_and_four_dimensions():
    x3 = rng.standard_normal((4, 5, 6)).astype(np.float32)
    x4 = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    a, b = graphc.tensor(x3), graphc.tensor(x4)
    (s01, s1, s023), compiled = run_compiled(a.sum(axis=(0, 1)), (a * a).sum(axis=1),
                                             b.sum(axis=(0, 2, 3)))
    np.testing.assert_allclose(s01, x3.sum(axis=(0, 1)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s1, (x3 * x3).sum(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s023, x4.sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    loops = {k.kernel.reduce_axes: accumulation_loop(k.source) for k in compiled.kernels
             if k.kernel.reduce_axes != (0, 2, 3)}
    assert loops == {(0, 1): "i2", (1,): "i2"}


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_channel_reductions_accumulate_in_lanes(dtype):
    """BatchNorm-style (0, 2, 3) and LayerNorm-style (1, 2, 3) reductions over rows of at
    least LANE_MIN_ROW points: the reduced last axis gets one accumulator per position,
    folded after the loops; short rows keep a scalar accumulator."""
    x = (rng.standard_normal((4, 4, 16, 10)) * 4).astype(dtype)
    assert 4 * 16 * 10 >= LANE_MIN_ROW
    if dtype == "float32":
        x[1, 2, 3, 4], x[0, 1, 0, 0], x[2, 3, 4, 5] = np.nan, np.inf, -np.inf
    t = graphc.tensor(x)
    compiled = assert_same(t.sum(axis=(0, 2, 3)), t.max(axis=(0, 2, 3)),
                           t.min(axis=(1, 2, 3), keepdims=True))
    assert all(accumulation_loop(k.source) == "i3" for k in compiled.kernels)
    short = graphc.tensor(x[:, :, :2, :5])
    compiled = assert_same(short.sum(axis=(0, 2, 3)))
    assert "lane" not in compiled.kernels[0].source


def test_mean_var_and_softmax_over_axis_0():
    """Several reductions in one kernel (later passes read earlier results per column),
    and elementwise outputs that read a reduction (a final pass)."""
    x = rng.standard_normal((12, 10))
    t = graphc.tensor(x, dtype="float64")
    (mean, var, sm), _ = run_compiled(t.mean(axis=0), F.var(t, axis=0), F.softmax(t, axis=0))
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(axis=0), rtol=1e-12)
    e = np.exp(x - x.max(axis=0))
    np.testing.assert_allclose(sm, e / e.sum(axis=0), rtol=1e-12)


def test_large_kernels_run_in_parallel_blocks():
    """Above PARALLEL_MIN_ELEMENTS: reduced first axis in blocks with partial
    accumulators (sum, NaN-aware max, first-position argmax), kept first axis under
    prange."""
    x = rng.standard_normal((2800, 384)).astype(np.float32)
    assert x.size >= PARALLEL_MIN_ELEMENTS
    x[650, 3] = np.nan
    x[10, 4] = x[2000, 4] = 50.0  # argmax tie across blocks: the first wins
    y = rng.standard_normal((3, 600, 600)).astype(np.float32)
    t, u = graphc.tensor(x), graphc.tensor(y)
    (total, top, where, s1), compiled = run_compiled(
        t.sum(axis=0), t.max(axis=0), F.argmax(t, axis=0), (u * 2).sum(axis=1))
    # against float64 sums (the kernels accumulate in float64; NumPy's float32 pairwise
    # sum is the less exact of the two)
    np.testing.assert_allclose(total, x.sum(axis=0, dtype=np.float64), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(s1, (y * 2).sum(axis=1, dtype=np.float64), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(top, x.max(axis=0))
    np.testing.assert_array_equal(where, np.argmax(x, axis=0))
    assert where[4] == 10 and np.isnan(top[3]) and where[3] == 650
    sources = [k.source for k in compiled.kernels]
    assert any("for part in prange(nc):" in s for s in sources)
    assert all("prange" in s for s in sources)


def test_any_all_of_bool_over_axis_0():
    x = rng.standard_normal((6, 9)) > 0.8
    x[:, 0], x[:, 1] = True, False
    t = graphc.tensor(x)
    (anyv, allv), compiled = run_compiled(t.max(axis=0), t.min(axis=0))
    np.testing.assert_array_equal(anyv, x.any(axis=0))
    np.testing.assert_array_equal(allv, x.all(axis=0))
    assert accumulation_loop(compiled.kernels[0].source) == "i1"
