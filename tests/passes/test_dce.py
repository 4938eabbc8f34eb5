"""dce: the result holds exactly the live nodes; autodiff-only wrappers are stripped."""

import numpy as np

import graphc
import graphc.functional as F
from graphc.ir import Attrs, Graph, buffer_node, make_node
from graphc.ops import apply
from graphc.passes.dce import dce, live_nodes
from graphc.passes.simplify import simplify
from tests.passes.graph_values import values

DEV = "xpux"



def reachable(outputs) -> set[int]:
    """An independent walk: uids reachable from ``outputs`` through pending nodes."""
    seen, stack = set(), list(outputs)
    while stack:
        n = stack.pop()
        if n.uid in seen:
            continue
        seen.add(n.uid)
        if n.buffer is None:
            stack.extend(n.inputs)
    return seen


def test_nodes_orphaned_by_a_rewrite_are_gone():
    x = graphc.tensor(np.array([[1.0, -0.0, np.nan]], np.float32))
    y = graphc.tensor(np.array([[2.0, 3.0, np.inf]], np.float32))
    z = F.exp(x * 1) + y.transpose().transpose()
    g = Graph((z._node,))
    orphaned = {z._node.inputs[0].inputs[0].uid, z._node.inputs[1].uid,
                z._node.inputs[1].inputs[0].uid}  # x * 1 and both transposes
    out = dce(simplify(g))
    kept = {n.uid for n in out.nodes()}
    assert not kept & orphaned
    assert kept == reachable(out.outputs) == {n.uid for n in live_nodes(out)}
    assert len(out.nodes()) == len(g.nodes()) - 5  # those three, the const 1, its broadcast
    np.testing.assert_array_equal(values(out)[0], values(g)[0])


def test_a_graph_without_wrappers_is_kept_as_it_is():
    x = graphc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    g = Graph(((x * 2.0).sum(axis=1)._node, F.relu(x)._node))
    out = dce(g)
    assert out.outputs == g.outputs
    assert [n.uid for n in live_nodes(out)] == [n.uid for n in g.nodes()]


def test_identity_wrappers_are_stripped():
    x = buffer_node(np.array([1.0, -0.0, np.inf], np.float32), DEV)
    inner = apply("exp", [apply("identity", [x])])
    g = Graph((apply("neg", [apply("identity", [inner])]),))
    out = dce(g)
    assert "identity" not in [n.op for n in out.nodes()]
    np.testing.assert_array_equal(values(out)[0], -np.exp(x.buffer))


def test_custom_grad_keeps_its_value_and_drops_backward_only_inputs():
    x = buffer_node(np.array([0.5, 2.0], np.float32), DEV)
    out_value = apply("mul", [x, x])
    backward_only = apply("exp", [apply("sin", [x])])  # read only by the Function
    wrapped = make_node("custom_grad", (out_value, backward_only),
                        Attrs(function=-1, index=0, outputs=1), out_value.type)
    g = Graph((apply("neg", [wrapped]),))
    out = dce(g)
    ops = [n.op for n in out.nodes()]
    assert "custom_grad" not in ops and "exp" not in ops and "sin" not in ops
    np.testing.assert_array_equal(values(out)[0], -(x.buffer * x.buffer))


def test_a_wrapper_as_output_stays_a_computed_output():
    x = buffer_node(np.array([3.0], np.float32), DEV)
    out = dce(Graph((apply("identity", [x]),)))
    (o,) = out.outputs
    assert o.op == "copy" and o.inputs[0] is x
    np.testing.assert_array_equal(values(out)[0], x.buffer)
