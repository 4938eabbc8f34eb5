"""Fusion contracts (DESIGN.md §5), asserted on explain(...).kernels and on values."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ir import Graph
from graphc.passes.fusion import fuse
from tests.runtime.compiled import assert_same

rng = np.random.default_rng(0)


def t(*shape):
    return graphc.tensor(rng.standard_normal(shape).astype(np.float32))


def loop_kernels(e):
    return [k for k in e.kernels if k.kind == "loop"]


def test_gelu_chain_is_one_kernel():
    x, w, b = t(16, 32), t(32), t(32)
    for approximate in ("none", "tanh"):
        y = F.gelu(x * w + b, approximate=approximate)
        assert len(graphc.explain(y).kernels) == 1
        assert_same(y)


def test_siblings_share_one_kernel_with_two_outputs():
    x, y = t(8, 8), t(8, 8)
    e = graphc.explain(x * y, x + y)
    assert len(e.kernels) == 1
    assert len(e.kernels[0].outputs) == 2
    assert_same(x * y, x + y)


def test_elementwise_prologue_fuses_into_reduction():
    x, y = t(64), t(64)
    e = graphc.explain((x * y).sum())
    assert len(e.kernels) == 1 and {"mul", "sum"} <= set(e.kernels[0].ops)
    assert_same((x * y).sum())


@pytest.mark.parametrize("fn", [F.softmax, F.logsoftmax])
def test_row_softmax_is_one_kernel(fn):
    x = t(32, 16)
    y = fn(x, axis=1)
    assert len(graphc.explain(y).kernels) == 1
    assert_same(y)


def test_layer_norm_pattern_is_one_kernel():
    x = t(8, 16)
    mu = x.mean(axis=1, keepdims=True)
    y = (x - mu) / F.sqrt(F.var(x, axis=1, keepdims=True) + 1e-5)
    assert len(graphc.explain(y).kernels) == 1
    assert_same(y)


def test_matmul_takes_an_elementwise_epilogue():
    x, w, b = t(4, 8), t(8, 3), t(3)
    y = F.relu(x @ w + b)
    e = graphc.explain(y)
    kinds = sorted(k.kind for k in e.kernels)
    assert kinds == ["library", "loop"]
    assert_same(y)


def test_movement_of_inputs_is_read_in_place_not_copied():
    x = t(6, 4)
    y = x.T * 2 + x.T
    e = graphc.explain(y)
    assert len(e.kernels) == 1
    arrays = [i for i in e.kernels[0].inputs if i[0] != ()]
    assert arrays == [((6, 4), "float32")]
    assert_same(y)


def test_transposed_matmul_operand_is_a_view():
    x, w = t(4, 8), t(3, 8)
    e = graphc.explain(x @ w.T)
    assert [k.kind for k in e.kernels] == ["library"]
    assert_same(x @ w.T)


def test_value_used_by_two_kernels_is_stored_once():
    x = t(8, 16)
    h = F.exp(x) * 2
    a = h.sum(axis=0)
    b = h.sum(axis=1)
    e = graphc.explain(a, b)
    producers = [k for k in e.kernels if "exp" in k.ops]
    assert len(producers) == 1, [k.ops for k in e.kernels]
    assert_same(a, b)


def test_reading_a_reduction_off_its_row_splits_kernels():
    x = t(4, 4)
    s = x.sum(axis=1, keepdims=True)  # shape (4, 1)
    y = x + s.reshape(1, 4)  # row i reads the sums of every row: not one row's value
    fused = fuse(Graph((y._node,)))
    assert len(fused.kernels) == 2
    assert_same(y)


def test_fusion_never_creates_cycles():
    x = t(4, 4)
    a = x * 2
    s = a.sum(axis=0, keepdims=True)  # reduction over another axis than the row
    y = a + s  # needs a stored `s`, which needs all of `a`
    z = F.exp(y) + a
    fused = fuse(Graph((z._node,)))
    position = {id(k): i for i, k in enumerate(fused.kernels)}
    for k in fused.kernels:
        for i in k.inputs:
            producer = fused.kernel_of.get(fused.base_of(i).uid)
            if producer is not None and producer is not k:
                assert position[id(producer)] < position[id(k)]
    assert_same(z)


def test_boundaries_are_explained():
    x = t(4, 4)
    y = (x @ x).sum(axis=0)
    e = graphc.explain(y)
    assert all(k.boundary for k in e.kernels)
    assert any("library" in k.boundary for k in e.kernels)


def test_forward_and_backward_of_a_gelu_chain_fuse_into_at_most_three_kernels():
    x, w, b = t(64, 32), t(32), t(32)
    y = F.gelu(x * w + b).sum()
    dx, dw, db = graphc.grad(y, [x, w, b])
    e = graphc.explain(y, dx, dw, db)
    assert len(e.kernels) <= 3, [k.ops for k in e.kernels]  # 2 today: see the note
    assert_same(y, dx, dw, db)


def _chain(x, ops):
    for _ in range(ops // 2):
        x = x * 0.5 + 1
    return x


def test_a_long_chain_is_cut_at_the_op_budget_into_segments_that_share_one_source():
    from graphc.passes.fusion import OP_BUDGET

    y = _chain(t(8, 8), 5 * OP_BUDGET)
    loops = loop_kernels(graphc.explain(y))
    assert len(loops) == 5
    assert all(len(k.ops) == OP_BUDGET for k in loops)
    # The segments after the first read the stored value of the one before: one rendered
    # source (one cache key, one compile) serves the four. (The first reads the leaf,
    # which orders the commutative product's operands the other way.)
    assert len({k.source for k in loops[1:]}) == 1
    assert_same(y)


def test_unrelated_work_of_one_shape_stays_in_kernels_that_share_one_source():
    xs = [t(4, 16) for _ in range(6)]
    sums = [F.exp(x * 2 + 1).sum(axis=1) for x in xs]  # nothing read in common
    kernels = loop_kernels(graphc.explain(*sums))
    assert len(kernels) == 6 and len({k.source for k in kernels}) == 1
    assert_same(*sums)


def test_siblings_fuse_up_to_the_budget(monkeypatch):
    import graphc.passes.fusion as fusion

    x = t(4, 16)
    sums = [F.exp(x * 2 + k).sum(axis=1) for k in range(6)]  # 4 ops each, all read x
    assert len(loop_kernels(graphc.explain(*sums))) == 1
    monkeypatch.setattr(fusion, "OP_BUDGET", 8)
    kernels = loop_kernels(graphc.explain(*sums))
    assert len(kernels) == 3 and all(len(k.ops) <= 8 for k in kernels)
    assert_same(*sums)


def _at_budgets(monkeypatch, make, budgets=(10**6, 64, 5, 1)):
    import graphc.passes.fusion as fusion
    from tests.runtime.compiled import run_compiled

    results = []
    for budget in budgets:
        monkeypatch.setattr(fusion, "OP_BUDGET", budget)
        values, compiled = run_compiled(*make())
        results.append((len(compiled.fused.kernels), values))
    counts = [n for n, _ in results]
    assert counts == sorted(counts) and counts[0] < counts[-1], counts  # the budgets cut
    return [values for _, values in results]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cutting_elementwise_kernels_at_any_budget_keeps_every_bit(monkeypatch, dtype):
    """A map kernel computes each op as NumPy does, so a value stored at a cut has the
    bits it had inside the kernel: the results do not depend on the budget."""
    data = np.random.default_rng(1)
    x, w = (graphc.tensor(data.standard_normal(s).astype(dtype)) for s in ((6, 10), (10,)))

    def make():
        y = F.tanh(x * w + 1) / (F.exp(-x) + 2) - F.sqrt(F.abs(x) + w * w)
        return [_chain(y, 150), F.maximum(y, x * 3) ** 2]

    unsplit, *split = _at_budgets(monkeypatch, make)
    for values in split:
        for got, want in zip(values, unsplit):
            np.testing.assert_array_equal(got, want)


def test_cutting_reduction_kernels_changes_results_only_within_rounding(monkeypatch):
    """Kernels with a reduction compile with reassociation (codegen/cpu.py FASTMATH), so a
    prologue computed inside one may round differently from the same ops in a map kernel
    of their own: cuts move results by ulps, never more. (The partition is a function
    of the graph, so one graph's results are the same bits on every call.)"""
    data = np.random.default_rng(2)

    def tensor(*shape):
        return graphc.tensor(data.standard_normal(shape).astype(np.float32))

    x, w, b = tensor(6, 10), tensor(10), tensor(10)
    img, gain = tensor(2, 3, 4, 5), tensor(1, 3, 1, 1)

    def make():
        loss = (F.softmax(x * w + b, axis=1) * F.layer_norm(x, (10,), affine=False)).sum()
        mean = img.mean(axis=(0, 2, 3), keepdims=True)
        var = ((img - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        normed = (img - mean) / F.sqrt(var + 1e-5) * gain
        loss = loss + (F.tanh(normed) ** 2).sum()
        return [loss, *graphc.grad(loss, [x, w, b, img, gain])]

    unsplit, *split = _at_budgets(monkeypatch, make, budgets=(10**6, 8))
    for values in split:
        for got, want in zip(values, unsplit):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_node_of_stored_values_joins_its_first_consumer_where_it_can_be_read():
    x, y = t(4, 16), t(1, 16)
    column_sums = x.sum(axis=0, keepdims=True)  # (1, 16): the row values of x's kernel
    joined = column_sums + y * 3  # y * 3 waits for the add, then joins its kernel
    kernels = fuse(Graph((joined._node,))).kernels
    assert [k.ops for k in kernels] == [["sum", "mul", "add"]]
    assert_same(joined)
    # Reversed, y * 2 would be read in another row than the one computed: it gets a
    # kernel of its own, which runs first.
    flipped = column_sums + (y * 2)[:, ::-1]
    kernels = fuse(Graph((flipped._node,))).kernels
    assert [k.ops for k in kernels] == [["mul"], ["sum", "add"]]
    assert_same(flipped)


def test_layer_norm_with_its_three_gradients_is_two_kernels():
    """The weight and bias gradients, column sums of two arrays one kernel computed, are
    siblings: one kernel (docs/compiler.md, normalisation layers)."""
    x, w, b = t(64, 128), t(128), t(128)
    z = F.layer_norm(x, 128, weight=w, bias=b)
    grads = graphc.grad((z * z).sum(), [x, w, b])
    kernels = graphc.explain(z, *grads).kernels
    assert len(kernels) == 2, [k.ops for k in kernels]
    assert_same(z, *grads)
