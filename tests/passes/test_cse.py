"""cse: swapped operands of commutative ops and rewrite-made duplicates merge; values hold."""

import numpy as np
import pytest

import graphc
from graphc.ir import Graph, buffer_node, const_node
from graphc.ops import apply
from graphc.passes.cse import cse
from graphc.passes.fold_constants import fold_constants
from tests.passes.graph_values import assert_same_values, values

DEV = "xpux"





def count(graph: Graph, op: str) -> int:
    return sum(n.op == op for n in graph.pending())


def data(dtype, values_):
    return buffer_node(np.array(values_, dtype=dtype), DEV)


def test_swapped_addition_merges_through_the_front_end():
    x = graphc.tensor(np.array([1.0, -0.0, np.inf], np.float32))
    y = graphc.tensor(np.array([2.0, 0.0, -np.inf], np.float32))
    z = (x + y) * (y + x)
    g = Graph((z._node,))
    assert count(g, "add") == 2
    out = cse(g)
    assert count(out, "add") == 1
    assert_same_values(g, out)


@pytest.mark.parametrize("op,dtype", [
    ("add", np.float32), ("mul", np.float32), ("equal", np.float32),
    ("not_equal", np.float32), ("maximum", np.int32), ("minimum", np.int32),
    ("maximum", np.bool_), ("logical_and", np.bool_), ("logical_or", np.bool_),
    ("logical_xor", np.bool_),
])
def test_commutative_ops_merge(op, dtype):
    if dtype == np.bool_:
        a, b = data(dtype, [True, True, False]), data(dtype, [True, False, False])
    else:
        a, b = data(dtype, [1, 5, -3]), data(dtype, [1, -2, 7])
    ab, ba = apply(op, [a, b]), apply(op, [b, a])
    assert ab is not ba
    g = Graph((ab, ba))
    out = cse(g)
    assert out.outputs[0] is out.outputs[1]
    assert count(out, op) == 1
    assert_same_values(g, out)


@pytest.mark.parametrize("op", ["sub", "div", "less", "pow", "mod"])
def test_non_commutative_ops_keep_both_orders(op):
    a, b = data(np.float32, [1.0, 4.0]), data(np.float32, [2.0, 3.0])
    g = Graph((apply(op, [a, b]), apply(op, [b, a])))
    out = cse(g)
    assert out.outputs[0] is not out.outputs[1]
    assert_same_values(g, out)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_float_maximum_and_minimum_are_not_reordered(op):
    # NumPy returns the second operand when both compare equal, so the order decides
    # the sign of a zero result: swapping would change values.
    fn = getattr(np, op)
    assert np.signbit(fn(np.float32(0.0), np.float32(-0.0))) != np.signbit(
        fn(np.float32(-0.0), np.float32(0.0)))
    a, b = data(np.float32, [0.0, 1.0]), data(np.float32, [-0.0, 2.0])
    g = Graph((apply(op, [a, b]), apply(op, [b, a])))
    out = cse(g)
    assert out.outputs[0] is not out.outputs[1]
    assert_same_values(g, out)


def test_equal_folded_constants_merge_and_so_do_their_users():
    x = data(np.float32, [1.0, 2.0])
    one = const_node(1.0, np.float32, DEV)
    two_a = apply("add", [one, one])
    two_b = apply("sub", [one, const_node(-1.0, np.float32, DEV)])

    def times(two):
        return apply("mul", [x, apply("broadcast_to", [two], shape=(2,))])

    g = Graph((apply("sub", [times(two_a), times(two_b)]),))
    folded = fold_constants(g)
    consts = [n for n in folded.nodes() if n.op in ("const", "scalar")]
    assert len(consts) == 1 and consts[0].value == 2.0  # equal folded 2.0s: one node...
    out = cse(folded)  # ... so their users merge
    assert count(out, "mul") == 1 and count(out, "broadcast_to") == 1
    assert_same_values(g, out)


def test_runtime_argument_never_merges_with_an_equal_folded_constant():
    x = data(np.float32, [1.0, 2.0])
    one = const_node(1.0, np.float32, DEV)
    runtime_two = const_node(2.0, np.float32, DEV)

    def times(two):
        return apply("mul", [x, apply("broadcast_to", [two], shape=(2,))])

    g = Graph((apply("sub", [times(apply("add", [one, one])), times(runtime_two)]),))
    out = cse(fold_constants(g))
    assert count(out, "mul") == 2
    assert runtime_two in out.frontier()
    assert_same_values(g, out)


def test_duplicates_made_by_a_rewrite_merge():
    from graphc.passes.rewrite import derive, rewrite

    x = data(np.float32, [0.5, -1.0])
    g = Graph((apply("add", [apply("sin", [x]), apply("cos", [x])]),))
    # A rewrite that turns cos into sin makes the two operands the same computation.
    same = rewrite(g, lambda n: derive("sin", n.inputs, n) if n.op == "cos" else None)
    out = cse(same)
    assert count(out, "sin") == 1
    add = out.outputs[0]
    assert add.inputs[0] is add.inputs[1]
    np.testing.assert_array_equal(values(out)[0], 2 * np.sin(x.buffer))


def test_commutative_operands_are_ordered_by_op_so_equal_layers_render_alike():
    """Whichever was built first, ``broadcast_to(bias)`` sorts before ``matmul``: two
    layers' bias adds put their operands the same way round (one kernel source)."""
    x = data(np.float32, [[1.0, 2.0]])
    w = data(np.float32, [[1.0], [3.0]])

    def bias():
        return apply("broadcast_to", [data(np.float32, [0.5])], shape=(1, 1))

    b1 = bias()
    first = apply("add", [apply("matmul", [x, w]), b1])  # bias built first
    product = apply("matmul", [x, w])
    second = apply("add", [bias(), product])  # bias built last
    out = cse(Graph((first, second)))
    assert [[i.op for i in n.inputs] for n in out.outputs] == [["broadcast_to", "matmul"]] * 2
    assert_same_values(Graph((first, second)), out)
