"""simplify: every identity removes what it should, keeps the type, and keeps every value
(NaN, ±Inf and -0.0 included); identities that are not exact are left alone. The
property test at the end runs the whole pre-fusion pipeline on random graphs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc
import graphc.functional as F
from graphc.backends.cpu import cpu_backend
from graphc.ir import Graph, buffer_node, const_node
from graphc.ops import apply
from graphc.passes import run_pipeline
from graphc.passes.simplify import known_scalar, simplify
from graphc.passes.verify import verify
from tests.passes.graph_values import assert_same_values, values

DEV = "xpux"
CPU = cpu_backend().capabilities  # the target of the pipeline these tests run
SPECIALS = np.array([[0.0, -0.0, np.inf], [-np.inf, np.nan, -2.5]], np.float32)
INTS = np.array([[0, -7, 3], [2**31 - 1, -(2**31), 12]], np.int32)





def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.pending()]


def run(y) -> tuple[Graph, Graph]:
    """The graph of tensor ``y`` before and after simplify, with types checked."""
    g = Graph((y._node,))
    out = simplify(g)
    assert out.outputs[0].type == g.outputs[0].type
    verify(out)
    assert_same_values(g, out)
    return g, out


def fx():
    return graphc.tensor(SPECIALS)


def ix():
    return graphc.tensor(INTS)


def raw(op: str, x, **attrs):
    """A tensor for ``op`` applied as is (the front end skips some no-ops itself)."""
    return graphc.Tensor._wrap(apply(op, [x._node], **attrs))


def simplifies_to_input(y, x) -> None:
    g, out = run(y)
    (o,) = out.outputs
    # An output that reduces to an input stays computed: a copy of the input.
    assert o.op == "copy" and o.inputs[0] is x._node, out.nodes()


@pytest.mark.parametrize("build", [
    lambda x: x * 1, lambda x: 1 * x, lambda x: x / 1, lambda x: x - 0,
    lambda x: x + (-0.0), lambda x: (-0.0) + x, lambda x: x ** 1,
    lambda x: F.neg(F.neg(x)), lambda x: raw("detach", x), lambda x: x.transpose().transpose(),
    lambda x: x.reshape(6).reshape(2, 3), lambda x: F.where(x > 0, x, x),
    lambda x: raw("broadcast_to", x, shape=(2, 3)),
    lambda x: raw("slice", x, starts=(0, 0), stops=(2, 3), steps=(1, 1)),
    lambda x: raw("transpose", x, perm=(0, 1)), lambda x: raw("reshape", x, shape=(2, 3)),
], ids=["x*1", "1*x", "x/1", "x-0", "x+-0", "-0+x", "x**1", "neg neg", "detach",
        "transpose twice", "reshape twice", "where(c,x,x)", "broadcast same", "slice all",
        "identity perm", "reshape same"])
def test_float_identities_reduce_to_x(build):
    x = fx()
    simplifies_to_input(build(x), x)


@pytest.mark.parametrize("build", [
    lambda x: x + 0, lambda x: 0 + x, lambda x: x - 0, lambda x: x * 1, lambda x: F.neg(F.neg(x)),
    lambda x: x ** 1,
], ids=["x+0", "0+x", "x-0", "x*1", "neg neg", "x**1"])
def test_integer_identities_reduce_to_x(build):
    x = ix()
    simplifies_to_input(build(x), x)


def test_the_example_pipeline_of_the_brief():
    x = graphc.tensor(np.arange(6.0).reshape(2, 3))
    g, out = run((x * 1 + (-0.0)).transpose().transpose())
    assert ops(out) == ["copy"]


def test_x_plus_positive_zero_is_kept_for_floats():
    # -0.0 + 0.0 is +0.0: dropping the add would change the sign of that zero.
    x = fx()
    g, out = run(x + 0.0)
    assert "add" in ops(out)
    assert np.signbit(values(out)[0][0, 1]) != np.signbit(SPECIALS[0, 1])


def test_x_minus_negative_zero_is_kept_for_floats():
    x = fx()
    g, out = run(x - (-0.0))
    assert "sub" in ops(out)


def test_x_times_zero_is_zero_for_integers_only():
    xi = ix()
    g, out = run(xi * 0)
    assert "mul" not in ops(out)
    np.testing.assert_array_equal(values(out)[0], np.zeros((2, 3), np.int32))
    g, out = run(0 * xi)
    assert "mul" not in ops(out)
    xf = fx()
    g, out = run(xf * 0)  # inf * 0 and nan * 0 are NaN
    assert "mul" in ops(out)
    assert np.isnan(values(out)[0][0, 2])


def test_x_minus_x_is_zero_for_integers_only():
    xi = ix()
    g, out = run(xi - xi)
    assert "sub" not in ops(out)
    np.testing.assert_array_equal(values(out)[0], np.zeros((2, 3), np.int32))
    xf = fx()
    g, out = run(xf - xf)  # inf - inf is NaN
    assert "sub" in ops(out)
    assert np.isnan(values(out)[0][0, 2])


def test_runtime_argument_constants_are_not_specialised():
    # 0.5 and 2.0 are arguments: the next call of the same program may pass 1.0 or 0.0.
    x = fx()
    for y, op in ((x * 0.5, "mul"), (x + 2.0, "add"), (x ** 2, "pow"), (x / 2.0, "div")):
        g, out = run(y)
        assert op in ops(out)


def test_pow_of_a_known_two_becomes_a_square():
    x = fx()
    one = const_node(1.0, np.float32, DEV)
    two = apply("broadcast_to", [apply("add", [one, one])], shape=(2, 3))
    g = Graph((apply("pow", [x._node, two]),))
    out = run_pipeline(g, capabilities=CPU)
    assert ops(out) == ["mul"] and out.outputs[0].inputs == (x._node, x._node)
    # x * x is correctly rounded where pow may be off by an ulp.
    assert_same_values(g, out, rtol=1e-6)
    ys = graphc.tensor(np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3))
    g = Graph((apply("pow", [ys._node, two]),))
    np.testing.assert_allclose(values(run_pipeline(g, capabilities=CPU))[0], ys.numpy() ** 2,
                               rtol=1e-6)


def test_transposes_compose_into_one():
    x = graphc.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    y = x.transpose(1, 0, 2).transpose(0, 2, 1)
    g, out = run(y)
    assert ops(out) == ["transpose"]
    np.testing.assert_array_equal(values(out)[0], x.numpy().transpose(1, 0, 2).transpose(0, 2, 1))


def test_reshapes_compose_into_one():
    x = fx()
    g, out = run(x.reshape(3, 2).reshape(6, 1).reshape(1, 6))
    assert ops(out) == ["reshape"]


def test_broadcasts_compose_into_one():
    v = graphc.tensor(np.array([np.nan, -0.0, 1.0], np.float32))
    g, out = run(F.broadcast_to(F.broadcast_to(v, (2, 3)), (4, 2, 3)))
    assert ops(out) == ["broadcast_to"]


def test_astype_to_its_own_dtype_is_dropped():
    x = fx()
    simplifies_to_input(raw("astype", x, dtype="float32"), x)
    g, out = run(x.astype("int32"))  # a real cast stays
    assert ops(out) == ["astype"]


def test_reversing_or_partial_slices_are_kept():
    x = fx()
    for y in (x[::-1], x[:, 1:], x[::2]):
        g, out = run(y)
        assert ops(out) == ["slice"]


def test_logical_identities():
    b = graphc.tensor(np.array([[True, False, True]]))
    simplifies_to_input(~~b, b)
    simplifies_to_input(b & True, b)
    simplifies_to_input(False | b, b)
    x, y = fx(), graphc.tensor(np.ones((2, 3), np.float32))
    g, out = run(F.where(F.full((2, 3), True), x, y))
    assert out.outputs[0].inputs[0] is x._node
    g, out = run(F.where(F.full((2, 3), False), x, y))
    assert out.outputs[0].inputs[0] is y._node


def test_known_constants_are_seen_through_movement_and_casts():
    one = const_node(1, np.int32, DEV)
    cast = apply("astype", [apply("broadcast_to", [one], shape=(3,))], dtype="float32")
    assert known_scalar(apply("transpose", [apply("reshape", [cast], shape=(3, 1))],
                              perm=(1, 0))) == 1.0
    assert known_scalar(buffer_node(np.ones(3, np.float32), DEV)) is None


def test_copy_is_kept():
    x = fx()
    g, out = run(F.copy(x * 1))
    assert ops(out) == ["copy"] and out.outputs[0] is F.copy(x)._node


def test_realized_nodes_are_not_crossed():
    # A realized node's data is a program argument: it may differ on the next call.
    x = fx()
    t = x.transpose()
    graphc.realize(t)
    g, out = run(t.transpose())
    assert ops(out) == ["transpose"] and out.outputs[0].inputs[0] is t._node


def test_simplified_nodes_keep_the_users_line():
    x = fx()
    y = F.exp((x * 1).transpose().transpose())
    g, out = run(y)
    assert out.outputs[0].meta is y._node.meta


def test_graph_outputs_that_simplify_to_one_node_stay_two_outputs():
    x = fx()
    g = Graph(((x * 1)._node, (x / 1)._node))
    out = simplify(g)
    assert len(out.outputs) == 2
    assert_same_values(g, out)


# ---- the whole pipeline on random graphs --------------------------------------------

KEY_VALUES = (0, 1, -1, -0.0)
RUNTIME_VALUES = (0.5, 2.0, -3.0)
FLOAT_LEAF = np.array([[0.0, -0.0, np.inf], [-np.inf, np.nan, 1.5]], np.float32)
INT_LEAF = np.array([[0, -2, 3], [1, 5, -1]], np.int32)
SHAPE = (2, 3)


def _splat(value, dtype) -> object:
    return apply("broadcast_to", [const_node(value, dtype, DEV)], shape=SHAPE)


@st.composite
def expression_graphs(draw):
    """A random graph over one (2, 3) input with key and runtime-argument constants."""
    is_float = draw(st.booleans())
    dtype = np.dtype(np.float32 if is_float else np.int32)
    x = buffer_node(FLOAT_LEAF if is_float else INT_LEAF, DEV)
    constants = KEY_VALUES + (RUNTIME_VALUES if is_float else (2, -3))
    pool = [x] + [_splat(v, dtype) for v in draw(st.lists(st.sampled_from(constants),
                                                            min_size=1, max_size=3))]
    computed = []
    scalar_pool = [const_node(v, dtype, DEV) for v in KEY_VALUES[:3]]
    binary = ["add", "sub", "mul", "maximum", "minimum"] + (["div", "pow"] if is_float else [])
    for _ in range(draw(st.integers(2, 10))):
        pick = draw(st.sampled_from(["binary", "binary", "unary", "move", "scalar", "where"]))
        # Mostly extend the input (it holds NaN, ±Inf and -0.0) or the latest result, so
        # graphs grow deep as well as wide.
        a = draw(st.sampled_from([x, computed[-1] if computed else x, *pool]))
        if pick == "binary":  # half the time with a constant: the identities' home ground
            b = draw(st.sampled_from(pool)) if draw(st.booleans()) else _splat(
                draw(st.sampled_from(constants)), dtype)
            pair = [a, b] if draw(st.booleans()) else [b, a]
            node = apply(draw(st.sampled_from(binary)), pair)
        elif pick == "unary":
            node = apply(draw(st.sampled_from(["neg", "abs", "detach", "copy"])), [a])
        elif pick == "move":
            kind = draw(st.sampled_from(["transpose", "reshape", "broadcast", "slice",
                                         "astype"]))
            if kind == "transpose":
                node = apply("transpose", [apply("transpose", [a], perm=(1, 0))], perm=(1, 0))
            elif kind == "reshape":
                node = apply("reshape", [apply("reshape", [a], shape=(6,))], shape=SHAPE)
            elif kind == "broadcast":
                node = apply("broadcast_to", [a], shape=SHAPE)
            elif kind == "slice":
                node = apply("slice", [a], starts=(0, 0), stops=SHAPE, steps=(1, 1))
            else:
                node = apply("astype", [a], dtype=dtype.name)
        elif pick == "scalar":  # scalar arithmetic: folds when it only reads key values
            s, t = draw(st.sampled_from(scalar_pool)), draw(st.sampled_from(scalar_pool))
            op = draw(st.sampled_from(["add", "sub", "mul", "maximum"]))
            scalar_pool.append(apply(op, [s, t]))
            node = apply("broadcast_to", [scalar_pool[-1]], shape=SHAPE)
        else:
            b = draw(st.sampled_from(pool))
            cond = apply("logical_not", [apply("logical_not", [apply("greater", [a, b])])])
            node = apply("where", [cond, a, draw(st.sampled_from([a, b]))])
        pool.append(node)
        computed.append(node)
    extra = draw(st.lists(st.sampled_from(computed), max_size=1))
    return Graph((computed[-1], *extra))


@given(expression_graphs())
def test_pipeline_keeps_values_of_random_graphs(g):
    out = run_pipeline(g, capabilities=CPU)
    assert [o.type for o in out.outputs] == [o.type for o in g.outputs]
    assert verify(out) is out
    assert len(out.pending()) <= len(g.pending()) + len(g.outputs)  # + output copies
    for a, b in zip(values(g), values(out)):
        # pow(x, 2) → x * x may round differently by an ulp; everything else is exact.
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=0, equal_nan=True)
        zero = a == 0
        np.testing.assert_array_equal(np.signbit(b[zero]), np.signbit(a[zero]))
