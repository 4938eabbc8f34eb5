"""fold_constants: only key values fold, only scalars are baked, values never change."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ir import Graph, buffer_node, const_in_key, const_node
from graphc.ir import values as realized_values
from graphc.ops import apply
from graphc.passes.fold_constants import fold_constants, folded_const, is_known_constant
from tests.passes.graph_values import assert_same_values, values

DEV = "xpux"  # the default device: graphs mix these with graphc.tensor data


def c(value, dtype=np.float32):
    return const_node(value, dtype, DEV)





def consts(graph: Graph) -> list:
    return [n.value for n in graph.nodes() if n.op in ("const", "scalar")]


def test_scalar_arithmetic_on_key_values_folds_to_one_const():
    x = buffer_node(np.array([1.5, -2.0], np.float32), DEV)
    two = apply("add", [c(1.0), c(1.0)])
    three = apply("sub", [two, c(-1.0)])
    y = apply("mul", [x, apply("broadcast_to", [three], shape=(2,))])
    g = Graph((y,))
    out = fold_constants(g)
    assert [n.op for n in out.pending()] == ["broadcast_to", "mul"]
    assert consts(out) == [3.0]
    assert_same_values(g, out)
    np.testing.assert_array_equal(values(out)[0], x.buffer * 3)


@pytest.mark.parametrize("op,args,expected", [
    ("div", (1.0, 0.0), np.inf),
    ("div", (-1.0, 0.0), -np.inf),
    ("div", (0.0, 0.0), np.nan),
    ("sub", (-0.0, 0.0), -0.0),
    ("mul", (-1.0, 0.0), -0.0),
    ("maximum", (-0.0, 0.0), 0.0),
])
def test_folding_keeps_ieee_specials(op, args, expected):
    y = apply("neg", [apply(op, [c(a) for a in args])])
    g = Graph((y,))
    out = fold_constants(g)
    assert [n.op for n in out.pending()] == ["copy"]  # a computed output stays computed
    got = values(out)[0]
    np.testing.assert_array_equal(got, -np.float32(expected))
    if expected == 0:
        assert np.signbit(got) == np.signbit(-np.float32(expected))
    assert_same_values(g, out)


def test_integer_and_bool_folds():
    i1 = c(1, np.int32)
    y = apply("mul", [apply("add", [i1, i1]), apply("sub", [c(0, np.int32), i1])])
    b = apply("logical_not", [apply("equal", [i1, c(0, np.int32)])])
    g = Graph((y, b))
    out = fold_constants(g)
    assert values(out)[0].item() == -2 and values(out)[1].item() is True
    assert_same_values(g, out)


def test_runtime_argument_consts_are_never_folded():
    # 0.5 and 2.0 change from call to call under the same compiled program.
    half, two = c(0.5), c(2.0)
    assert not const_in_key(half) and not const_in_key(two)
    y = apply("mul", [apply("add", [half, c(1.0)]), two])
    g = Graph((y,))
    out = fold_constants(g)
    assert out.outputs == g.outputs
    assert {n.op for n in out.pending()} == {"add", "mul"}


def test_nothing_that_reads_data_is_folded():
    x = graphc.tensor(np.float32(3.0))  # a 0-d buffer: its data changes between calls
    realized = apply("exp", [buffer_node(np.float32(0.0).reshape(()), DEV)])
    realized_values.record(realized, np.ones((), np.float32))
    y = apply("add", [apply("add", [x._node, c(1.0)]), apply("add", [realized, c(1.0)])])
    g = Graph((y,))
    out = fold_constants(g)
    assert out.outputs == g.outputs


def test_big_known_values_are_not_materialised():
    zeros = apply("broadcast_to", [c(0.0)], shape=(1000, 1000))
    g = Graph((apply("neg", [zeros]),))
    out = fold_constants(g)
    # elementwise over a broadcast scalar: the scalar is computed, then broadcast
    assert [n.op for n in out.pending()] == ["broadcast_to"]
    (const,) = out.frontier()
    assert const.type.shape == () and const.value == 0.0 and np.signbit(const.value)


def test_elementwise_of_broadcast_runtime_scalars_is_not_folded():
    half = apply("broadcast_to", [c(0.5)], shape=(3,))  # 0.5: a runtime argument
    g = Graph((apply("neg", [half]),))
    assert fold_constants(g).outputs == g.outputs


def test_small_known_intermediates_feed_scalar_folds():
    ones = apply("broadcast_to", [c(1.0)], shape=(2, 3))
    total = apply("sum", [ones], axes=(0, 1), keepdims=False)  # 6.0, from key values only
    x = buffer_node(np.array(2.0, np.float32), DEV)
    g = Graph((apply("mul", [x, total]),))
    out = fold_constants(g)
    assert [n.op for n in out.pending()] == ["mul"]
    assert consts(out) == [6.0]
    assert_same_values(g, out)


def test_a_folded_value_is_never_the_node_of_a_runtime_argument():
    # const_node(2.0) is hash-consed: the user's runtime 2.0 *is* that node. The folded
    # 1 + 1 must stay a separate node, or the compiled program would read it from the
    # argument slot and see 3.0 on the next call.
    x = buffer_node(np.array([1.0, 2.0], np.float32), DEV)
    runtime_two = c(2.0)
    folded = apply("add", [c(1.0), c(1.0)])
    y = apply("add", [apply("mul", [x, apply("broadcast_to", [runtime_two], shape=(2,))]),
                      apply("broadcast_to", [folded], shape=(2,))])
    out = fold_constants(Graph((y,)))
    twos = [n for n in out.nodes() if n.op in ("const", "scalar") and n.value == 2.0]
    assert len(twos) == 2 and twos[0] is not twos[1]
    assert runtime_two in twos
    baked = next(n for n in twos if n is not runtime_two)
    assert is_known_constant(baked) and not is_known_constant(runtime_two)
    np.testing.assert_array_equal(values(out)[0], x.buffer * 2 + 2)


def test_folded_consts_are_known_to_a_second_run():
    # pipelines may run twice; a folded 2.0 still counts as known the second time.
    four = apply("mul", [apply("add", [c(1.0), c(1.0)]), apply("add", [c(1.0), c(1.0)])])
    first = fold_constants(Graph((apply("neg", [four]),)))
    again = fold_constants(first)
    np.testing.assert_array_equal(values(again)[0], np.float32(-4.0))
    assert consts(again) == [-4.0]


def test_folded_const_keeps_key_values_hash_consed():
    like = apply("add", [c(1.0), c(-1.0)])
    assert folded_const(0.0, like) is c(0.0)


def test_an_error_during_folding_leaves_the_node_for_run_time():
    # NumPy refuses integer powers to a negative exponent; that is not a compile error.
    y = apply("pow", [c(1, np.int32), c(-1, np.int32)])
    g = Graph((apply("neg", [y]),))
    out = fold_constants(g)
    assert "pow" in [n.op for n in out.pending()]


def test_known_bool_where_folds_and_matches_numpy():
    t = const_node(True, np.bool_, DEV)
    y = apply("where", [t, c(-1.0), c(0.0)])
    out = fold_constants(Graph((apply("neg", [y]),)))
    np.testing.assert_array_equal(values(out)[0], np.float32(1.0))


def test_functional_graph_values_unchanged():
    x = graphc.tensor(np.array([[0.0, -0.0, np.inf], [np.nan, 1.0, -3.0]], np.float32))
    y = F.where(x > 0, x * (1 + 1), -x) + F.exp(x) * 0
    g = Graph((y._node,))
    assert_same_values(g, fold_constants(g))
