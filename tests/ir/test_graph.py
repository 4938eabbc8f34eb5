"""Graph traversal and structural keys (graphc/ir/graph.py)."""

import gc

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import interp, lazy
from graphc.ir import (
    Graph,
    buffer_node,
    const_node,
    count_nodes,
    is_frontier,
    pending_nodes,
    placeholder_node,
    structural_key,
    topo_order,
    values,
)
from graphc.ops import apply

RNG = np.random.default_rng(0)


def _buffer(shape=(2, 3), dtype=np.float32):
    return buffer_node(RNG.standard_normal(shape).astype(dtype), "cpux")


def _assert_topological(order):
    position = {n.uid: i for i, n in enumerate(order)}
    assert len(position) == len(order), "a node appears twice"
    for n in order:
        if n.buffer is None:
            for i in n.inputs:
                assert position[i.uid] < position[n.uid]


# ---- traversal ------------------------------------------------------------------

def test_topo_order_of_a_diamond():
    x = _buffer()
    a, b = apply("neg", [x]), apply("exp", [x])
    top = apply("add", [a, b])
    order = topo_order([top])
    _assert_topological(order)
    assert {n.uid for n in order} == {x.uid, a.uid, b.uid, top.uid}
    assert order[-1] is top and order[0] is x


def test_topo_order_of_several_roots_visits_shared_nodes_once():
    x = _buffer()
    a = apply("neg", [x])
    b, c = apply("exp", [a]), apply("sin", [a])
    order = topo_order([b, c, a])
    _assert_topological(order)
    assert len(order) == 4


def test_traversal_stops_at_realized_nodes():
    x = _buffer()
    a = apply("neg", [x])
    b = apply("exp", [a])
    values.record(a, -x.buffer)  # realized: nodes never forget their inputs
    assert [n.op for n in topo_order([b])] == ["neg", "exp"]
    assert pending_nodes([b]) == [b]
    assert count_nodes([b]) == 3  # count_nodes follows retained inputs
    assert is_frontier(a) and is_frontier(x) and not is_frontier(b)


def test_custom_stop():
    x = _buffer()
    a = apply("neg", [x])
    b = apply("exp", [a])
    assert topo_order([b], stop=lambda n: n is a) == [a, b]


def test_graph_views():
    x, w = _buffer(), _buffer((3, 3))
    h = apply("matmul", [x, w])
    out = apply("add", [h, h])
    g = Graph((out,))
    assert g.nodes() == topo_order([out])
    assert g.pending() == [h, out]
    assert {n.uid for n in g.frontier()} == {x.uid, w.uid}
    users = g.consumers()
    assert users[h.uid] == [out, out]  # once per use
    assert users[x.uid] == [h] and out.uid not in users


# ---- long chains ------------------------------------------------------------------

def test_a_chain_of_100000_nodes_needs_no_recursion():
    length = 100_000
    x = buffer_node(np.array([1.5, -2.0], dtype=np.float32), "cpux")
    node = x
    for _ in range(length):  # raw apply: nothing realizes on its own
        node = apply("neg", [node])
    assert node.depth > lazy.MAX_PENDING_DEPTH
    order = topo_order([node])
    assert len(order) == length + 1 and order[0] is x and order[-1] is node
    assert count_nodes([node]) == length + 1
    assert len(pending_nodes([node])) == length
    key, args = structural_key([node])
    assert args == [x]
    value = interp.run([node])[node.uid]
    np.testing.assert_array_equal(value, x.buffer)  # an even number of negations
    del order, key, args
    del node  # freeing the chain must not overflow the C stack
    gc.collect()


# ---- structural keys --------------------------------------------------------------

def _model(x, w, b, scale=0.5):
    return F.relu(x @ w + b) * scale


def _key(t):
    return structural_key([t._node])


def _weights(dtype=np.float32):
    return (graphc.tensor(RNG.standard_normal((3, 4)).astype(dtype)),
            graphc.tensor(RNG.standard_normal(4).astype(dtype)))


def test_next_batch_of_the_same_model_has_the_same_key():
    w, b = _weights()
    step1 = _model(graphc.tensor(RNG.standard_normal((2, 3)).astype(np.float32)), w, b)
    step2 = _model(graphc.tensor(RNG.standard_normal((2, 3)).astype(np.float32)), w, b)
    (key1, args1), (key2, args2) = _key(step1), _key(step2)
    assert key1 == key2 and hash(key1) == hash(key2)
    assert len(args1) == len(args2)
    assert [a.type for a in args1] == [a.type for a in args2]
    assert {w._node.uid, b._node.uid} <= {a.uid for a in args2}
    # new weights (an optimizer step) of the same type keep the key too
    w2, b2 = _weights()
    assert _key(_model(graphc.tensor(np.ones((2, 3), np.float32)), w2, b2))[0] == key1


def test_realized_nodes_are_abstracted_like_buffers():
    x = graphc.tensor(np.ones((2, 3), np.float32))
    h = x * 3
    h.numpy()
    fresh = graphc.tensor(np.zeros((2, 3), np.float32))
    assert _key(F.exp(h))[0] == _key(F.exp(fresh))[0]


@pytest.mark.parametrize("change", ["batch", "features", "dtype", "device"])
def test_different_types_give_different_keys(change):
    w, b = _weights()
    x = graphc.tensor(np.ones((2, 3), np.float32))
    base = _key(_model(x, w, b))[0]
    if change == "batch":
        other = _model(graphc.tensor(np.ones((5, 3), np.float32)), w, b)
    elif change == "features":
        w5, b5 = (graphc.tensor(np.ones((3, 5), np.float32)),
                  graphc.tensor(np.ones(5, np.float32)))
        other = _model(x, w5, b5)
    elif change == "dtype":
        other = _model(x.astype("float16"), *(t.astype("float16") for t in (w, b)))
    else:
        other = _model(*(t.to("cpu0") for t in (x, w, b)))
    assert _key(other)[0] != base


def test_different_structure_gives_different_keys():
    x, y = graphc.tensor(np.ones(3, np.float32)), graphc.tensor(np.ones(3, np.float32))
    assert _key(x + y)[0] != _key(x - y)[0]
    assert _key(x + x)[0] != _key(x + y)[0]  # aliasing is part of the structure
    assert _key(F.sum(x, axis=0))[0] != _key(F.sum(x, axis=0, keepdims=True))[0]


def test_float_scalars_are_runtime_arguments():
    w, b = _weights()
    x = graphc.tensor(np.ones((2, 3), np.float32))
    key_half, args_half = _key(_model(x, w, b, 0.5))
    key_quarter, args_quarter = _key(_model(x, w, b, 0.25))
    assert key_half == key_quarter
    assert [a.value for a in args_half if a.op == "scalar"] == [0.5]
    assert [a.value for a in args_quarter if a.op == "scalar"] == [0.25]
    assert _key(_model(x, w, b, 3.0))[0] == key_half


def test_zero_and_plus_minus_one_are_in_the_key():
    w, b = _weights()
    x = graphc.tensor(np.ones((2, 3), np.float32))
    keys = {s: _key(_model(x, w, b, s))[0] for s in (0.5, 0, 1, -1, 0.0, 1.0)}
    assert len({keys[0.5], keys[0], keys[1], keys[-1]}) == 4
    assert keys[0] == keys[0.0] and keys[1] == keys[1.0]  # same value, same float32 dtype
    _, args = _key(_model(x, w, b, 1))
    assert all(a.op != "const" for a in args)


def test_scalar_dtype_is_in_the_key():
    half = _key(graphc.tensor(np.ones(2, np.float16)) * 0.5)[0]
    single = _key(graphc.tensor(np.ones(2, np.float32)) * 0.5)[0]
    assert half != single


def test_key_of_leaves_and_placeholders():
    p = placeholder_node((2,), "float32", "cpux", "x")
    q = placeholder_node((2,), "float32", "cpux", "y")
    kp, args_p = structural_key([apply("neg", [p])])
    kq, _ = structural_key([apply("neg", [q])])
    assert kp == kq and args_p == [p]
    c = const_node(0.75, "float32", "cpux")
    kc, args_c = structural_key([c])
    assert args_c == [c]
    assert kc == structural_key([const_node(0.125, "float32", "cpux")])[0]


def test_key_records_which_roots_are_outputs():
    x = _buffer()
    a, b = apply("neg", [x]), apply("exp", [x])
    assert structural_key([a, b])[0] != structural_key([b, a])[0]


def test_inlined_walks_match_the_general_walk():
    from graphc.ir.graph import is_input_free

    xs = [buffer_node(RNG.standard_normal(3).astype(np.float32), "cpux") for _ in range(4)]
    nodes = list(xs)
    for k in range(40):  # a random DAG with shared inputs and a realized node inside
        a, b = nodes[RNG.integers(len(nodes))], nodes[RNG.integers(len(nodes))]
        if k == 20:  # the realized node reads a leaf nothing else reads: walking through
            a = b = buffer_node(np.ones(3, np.float32), "cpux")  # it finds more nodes
        n = apply("add" if k % 2 else "mul", [a, b])
        if k == 20:
            values.record(n, np.zeros(3, np.float32))
        nodes.append(n)
    roots = nodes[-3:] + [nodes[10], apply("neg", [nodes[24]])]  # 24: the realized one
    assert topo_order(roots) == topo_order(roots, stop=lambda n: is_frontier(n))
    assert topo_order(roots, stop=is_input_free) == topo_order(roots,
                                                               stop=lambda n: not n.inputs)
    assert len(topo_order(roots, stop=is_input_free)) > len(topo_order(roots))
