"""The shared rewrite driver: bottom-up rebuilding, type checks, output policy, scale."""

import numpy as np
import pytest

import graphc
from graphc import interp
from graphc.ir import Graph, buffer_node, const_node
from graphc.ops import apply
from graphc.passes import PASSES, PIPELINE, graph_pass, run_pipeline
from graphc.passes.rewrite import derive, rewrite


def value(graph: Graph, k: int = 0) -> np.ndarray:
    out = graph.outputs[k]
    return interp.run([out])[out.uid]


def pending_ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.pending()]


def exp_to_expm1_plus_one(node):
    """A test rule with a known closed form: exp(x) == expm1(x) + 1."""
    if node.op != "exp":
        return None
    (x,) = node.inputs
    one = apply("broadcast_to", [const_node(1.0, x.type.dtype, x.type.device)],
                shape=x.type.shape)
    return derive("add", [derive("expm1", [x], node), one], node)


def test_rule_sees_rebuilt_inputs_and_values_hold():
    x = graphc.tensor(np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3))
    y = graphc.functional.exp(graphc.functional.exp(x) * 0.5)
    g = Graph((y._node,))
    out = rewrite(g, exp_to_expm1_plus_one)
    assert "exp" not in pending_ops(out)
    assert pending_ops(out).count("expm1") == 2
    xv = x.numpy()
    np.testing.assert_allclose(value(out), np.exp(np.exp(xv) * 0.5), rtol=1e-6)


def test_frontier_nodes_are_never_touched():
    x = graphc.tensor(np.ones((2, 2), np.float32))
    y = x * 3.0
    g = Graph((y._node,))
    calls = []

    def spy(node):
        calls.append(node.op)
        return None

    out = rewrite(g, spy)
    assert out.outputs == g.outputs  # nothing changed: the very same nodes
    assert set(calls) <= {n.op for n in g.pending()}
    assert {n.uid for n in out.frontier()} == {n.uid for n in g.frontier()}


def test_replacement_of_another_type_is_an_error_naming_the_op():
    x = graphc.tensor(np.ones((2, 3), np.float32))
    y = graphc.functional.exp(x)
    g = Graph((y._node,))

    def bad(node):
        return derive("transpose", [node.inputs[0]], node, perm=(1, 0))

    with pytest.raises(TypeError, match=r"exp node .* must keep the type"):
        rewrite(g, bad, "bad_pass")


def test_replacements_are_offered_to_the_rule_again():
    # exp → sin → cos: a rule that rewrites its own output settles at the last form.
    x = buffer_node(np.array([0.5, 1.5], np.float32), "cpux")
    g = Graph((apply("exp", [x]),))
    step = {"exp": "sin", "sin": "cos"}

    def chain(node):
        return derive(step[node.op], node.inputs, node) if node.op in step else None

    out = rewrite(g, chain)
    assert pending_ops(out) == ["cos"]
    np.testing.assert_array_equal(value(out), np.cos(x.buffer))


def test_a_cycling_rule_terminates():
    x = buffer_node(np.array([0.5], np.float32), "cpux")
    g = Graph((apply("sin", [x]),))
    flip = {"sin": "cos", "cos": "sin"}
    out = rewrite(g, lambda n: derive(flip[n.op], n.inputs, n) if n.op in flip else None)
    assert pending_ops(out)[0] in ("sin", "cos")


def test_output_reduced_to_an_input_stays_computed():
    # An output must not alias an input buffer (an optimizer may overwrite it in place).
    x = graphc.tensor(np.array([1.0, -0.0, np.inf], np.float32))
    y = graphc.functional.exp(x)
    g = Graph((y._node,))
    out = rewrite(g, lambda n: n.inputs[0] if n.op == "exp" else None)
    (o,) = out.outputs
    assert o.op == "copy" and o.inputs[0] is x._node
    assert o.meta is y._node.meta  # errors keep pointing at the user's line
    np.testing.assert_array_equal(value(out), x.numpy())


def test_frontier_output_stays_as_it_is():
    x = buffer_node(np.ones(2, np.float32), "cpux")
    assert rewrite(Graph((x,)), lambda n: None).outputs == (x,)


def test_hash_consed_duplicates_are_rewritten_once():
    x = buffer_node(np.ones(3, np.float32), "cpux")
    a, b = apply("exp", [x]), apply("exp", [x])
    assert a is b
    seen = []
    rewrite(Graph((apply("add", [a, b]), a)), lambda n: seen.append(n.uid))
    assert len(seen) == len(set(seen))


def test_a_chain_of_100000_nodes_needs_no_recursion():
    x = buffer_node(np.array([1.0, -2.0], np.float32), "cpux")
    node = x
    for _ in range(100_000):
        node = apply("neg", [node])
    g = Graph((node,))

    def neg_to_abs_first_only(n):
        return derive("abs", n.inputs, n) if n.op == "neg" and n.inputs[0] is x else None

    out = rewrite(g, neg_to_abs_first_only)
    assert len(out.nodes()) == len(g.nodes())
    ops = pending_ops(out)
    assert ops[0] == "abs" and ops.count("abs") == 1
    # |x| under the 99,999 remaining negations: an odd count.
    np.testing.assert_array_equal(value(out), -np.abs(x.buffer))


def test_registry_holds_the_pipeline_under_stable_names():
    assert set(PIPELINE) <= set(PASSES)
    for name in PIPELINE:
        assert PASSES[name].pass_name == name
        assert PASSES[name].__doc__ and ">>>" in PASSES[name].__doc__


def test_graph_pass_rejects_a_second_pass_under_a_taken_name():
    with pytest.raises(ValueError, match="simplify"):
        graph_pass("simplify")(lambda g: g)


def test_run_pipeline_names_an_unknown_pass():
    x = buffer_node(np.ones(2, np.float32), "cpux")
    with pytest.raises(KeyError, match="no_such_pass"):
        run_pipeline(Graph((x,)), ("verify", "no_such_pass"))
