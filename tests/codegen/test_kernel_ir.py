"""The kernel IR (graphc/ir/kernel_ir.py), its lowering and the CPU schedule: what each
kernel computes is data of named scalar ops, the schedule's decisions are read off it,
and the printed kernels compute what NumPy computes."""

import dataclasses

import numpy as np
import pytest

from graphc.codegen.cpu import KernelSource
from graphc.codegen.cpu_ops import SCALAR_OPS
from graphc.codegen.cpu_schedule import LANE_MIN_ROW, PARALLEL_MIN_ELEMENTS
from graphc.codegen.lower import parse_index
from graphc.ir import buffer_node, structural_key
from graphc.ir.kernel_ir import Apply, Load, Reduce
from graphc.ops import apply
from graphc.ops.registry import OPS
from graphc.runtime.compiler import _runtime_value, compile_outputs

rng = np.random.default_rng(15)


def buffer(*shape, dtype=np.float32):
    data = rng.standard_normal(shape) * 4
    return buffer_node(data.astype(dtype), "cpux")


def compiled(outputs):
    """(the loop kernels' KernelSources, the outputs' values computed by the Program)."""
    _, args = structural_key(outputs)
    result = compile_outputs(outputs, args)
    values = result.program.run([_runtime_value(a) for a in args])
    return [k for k in result.kernels if isinstance(k, KernelSource)], values


def softmax(x):
    m = apply("max", [x], axes=(1,), keepdims=True)
    e = apply("exp", [apply("sub", [x, apply("broadcast_to", [m], shape=x.type.shape)])])
    s = apply("sum", [e], axes=(1,), keepdims=True)
    return apply("div", [e, apply("broadcast_to", [s], shape=x.type.shape)])


def test_softmax_lowers_to_named_scalar_ops_and_two_reductions():
    x = buffer(6, 10)
    (ks,), (y,) = compiled([softmax(x)])
    ir = ks.ir
    ops = [v.op for v in ir.values if isinstance(v, Apply)]
    assert ops == ["sub", "exp", "div"]  # movement ops left only index expressions
    reductions = [ir.values[r] for r in ir.reductions]
    assert [(r.combine, r.identity, r.axes) for r in reductions] == [
        ("max", -np.inf, (1,)), ("sum", 0, (1,))]
    (load,) = [v for v in ir.values if isinstance(v, Load)]
    assert [str(i) for i in load.index] == ["i0", "i1"]
    text = str(ir)
    assert "reduce max(%0) over axes (1,)" in text and "exp(%2)" in text
    assert "store p1[i0, i1]" in text and "{0}" not in text  # names, never templates
    e = np.exp(x.buffer - x.buffer.max(1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-6)


def test_the_ir_is_immutable_and_lowering_is_deterministic():
    x = buffer(3, 4)
    (a,), _ = compiled([softmax(x)])
    (b,), _ = compiled([softmax(x)])
    assert a.ir == b.ir and a.schedule == b.schedule and hash(a.ir) == hash(b.ir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.ir.values = ()


def test_every_elementwise_op_has_cpu_text_for_its_scalar_op():
    missing = [op.name for op in OPS.values()
               if op.kind == "elementwise" and op.scalar_op not in SCALAR_OPS]
    assert missing == []


@pytest.mark.parametrize("text, expected", [
    ("((i0 * n3 + i1) // (n4)) % n5", "(i0 * n3 + i1) // n4 % n5"),
    ("min(max((i1 - 2), 0), (n1 - 1))", "min(max(i1 - 2, 0), n1 - 1)"),
    ("(i0 >= 1) and ((i0 - 1) <= 3)", "i0 >= 1 and i0 - 1 <= 3"),
    ("(-1 * i0)", "-1 * i0"),
])
def test_index_expressions_parse_into_trees_that_print_the_same_arithmetic(text, expected):
    tree = parse_index(text)
    assert str(tree) == expected
    env = {"i0": 5, "i1": 7, "n1": 9, "n3": 11, "n4": 3, "n5": 4}
    assert eval(str(tree), {}, env) == eval(text, {}, env)


def test_small_kernels_run_serially_and_large_ones_under_prange():
    small, large = buffer(16, 16), buffer(PARALLEL_MIN_ELEMENTS // 512, 512)
    (s,), (ys,) = compiled([apply("mul", [small, small])])
    (b,), (yb,) = compiled([apply("mul", [large, large])])
    assert not s.schedule.parallel and "prange(" not in s.source.split("def kernel")[1]
    assert b.schedule.parallel and "in prange(sh[0])" in b.source
    np.testing.assert_array_equal(ys, small.buffer * small.buffer)
    np.testing.assert_array_equal(yb, large.buffer * large.buffer)


def test_a_kept_last_axis_is_scheduled_as_columns():
    x = buffer(64, 24)
    (ks,), (y,) = compiled([apply("sum", [x], axes=(0,), keepdims=False)])
    assert ks.schedule.form == "columns" and not ks.schedule.column_blocks
    np.testing.assert_allclose(y, x.buffer.astype(np.float64).sum(0), rtol=1e-6)
    big = buffer(PARALLEL_MIN_ELEMENTS // 256, 256)
    (ks,), (y,) = compiled([apply("sum", [big], axes=(0,), keepdims=False)])
    assert ks.schedule.form == "columns" and ks.schedule.column_blocks
    np.testing.assert_allclose(y, big.buffer.astype(np.float64).sum(0), rtol=1e-5)


def test_long_reduced_rows_accumulate_in_lanes():
    x = buffer(3, 32, 32)
    assert 32 * 32 >= LANE_MIN_ROW
    (ks,), (y,) = compiled([apply("sum", [x], axes=(1, 2), keepdims=False)])
    (r,) = ks.ir.reductions
    assert ks.schedule.form == "rows" and ks.schedule.lanes == {r}
    np.testing.assert_allclose(y, x.buffer.astype(np.float64).sum((1, 2)), rtol=1e-6)
    short = buffer(3, 4, 8)
    (ks,), _ = compiled([apply("sum", [short], axes=(1, 2), keepdims=False)])
    assert ks.schedule.lanes == frozenset()


def test_whole_float_reductions_of_parallel_kernels_use_fixed_blocks_and_ints_do_not():
    x = buffer(PARALLEL_MIN_ELEMENTS)
    (ks,), (total,) = compiled([apply("sum", [x], axes=(0,), keepdims=False)])
    (r,) = ks.ir.reductions
    assert ks.schedule.form == "whole" and ks.schedule.fixed_blocks == {r}
    assert ks.schedule.accumulator(r) == "float64"
    np.testing.assert_allclose(total, x.buffer.astype(np.float64).sum(), rtol=1e-6)
    n = buffer(PARALLEL_MIN_ELEMENTS, dtype=np.int32)
    (ks,), (total,) = compiled([apply("sum", [n], axes=(0,), keepdims=False)])
    (r,) = ks.ir.reductions
    assert ks.schedule.fixed_blocks == frozenset() and ks.schedule.accumulator(r) == "int64"
    assert total == n.buffer.astype(np.int64).sum()


def test_accumulator_dtypes_follow_the_reduction():
    x = buffer(5, 7)
    (ks,), (mx, sm) = compiled([apply("max", [x], axes=(1,), keepdims=False),
                                apply("sum", [x], axes=(1,), keepdims=False)])
    kinds = {ks.ir.values[r].combine: ks.schedule.accumulator(r) for r in ks.ir.reductions}
    assert kinds == {"max": "float32", "sum": "float64"}
    assert isinstance(ks.ir.values[ks.ir.reductions[0]], Reduce)
    np.testing.assert_array_equal(mx, x.buffer.max(1))
    np.testing.assert_allclose(sm, x.buffer.sum(1), rtol=1e-6)
