"""verify: re-inferred types must match, ops must exist, errors name node, op and line."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ir import EMPTY_ATTRS, Attrs, Graph, Node, TensorType, buffer_node, make_node, values
from graphc.ops import apply
from graphc.passes.verify import VerifyError, verify


def f32(*shape):
    return buffer_node(np.zeros(shape, np.float32), "cpux")


def test_a_well_formed_graph_is_returned_unchanged():
    x = graphc.tensor(np.arange(6.0).reshape(2, 3))
    y = F.softmax(x.transpose() * 2.0, axis=1).sum(axis=0) + x[0, :2].sum()
    g = Graph((y._node, x._node))
    assert verify(g) is g


def test_a_wrong_recorded_shape_names_node_op_and_user_line():
    x = f32(2, 3)
    wrong = TensorType((3, 2), np.dtype(np.float32), "cpux")
    bad = make_node("exp", (x,), EMPTY_ATTRS, wrong)  # built on this line
    g = Graph((apply("neg", [bad]),))
    with pytest.raises(VerifyError) as info:
        verify(g)
    msg = str(info.value)
    assert f"exp node %{bad.uid}" in msg
    assert "test_verify.py:" in msg and bad.meta.location in msg
    assert "float32[2, 3]" in msg and "float32[3, 2]" in msg


def test_a_wrong_recorded_dtype_is_caught():
    x = f32(4)
    bad = make_node("less", (x, x), EMPTY_ATTRS, x.type)  # predicates give bool
    with pytest.raises(VerifyError, match="less node"):
        verify(Graph((bad,)))


def test_an_unregistered_op_is_named():
    x = f32(2)
    bad = make_node("frobnicate", (x,), EMPTY_ATTRS, x.type)
    with pytest.raises(VerifyError, match="'frobnicate' is not registered"):
        verify(Graph((bad,)))


def test_inputs_that_the_op_rejects_are_reported_with_their_types():
    a, b = f32(2, 3), f32(3, 2)
    bad = make_node("add", (a, b), EMPTY_ATTRS, a.type)
    with pytest.raises(VerifyError, match=r"add node .*float32\[3, 2\]"):
        verify(Graph((bad,)))


def test_bad_attrs_are_reported():
    x = f32(2, 3)
    bad = make_node("transpose", (x,), Attrs(perm=(0, 0)), x.type)
    with pytest.raises(VerifyError, match="transpose node"):
        verify(Graph((bad,)))


def test_a_frontier_without_a_value_is_reported():
    x = f32(2)
    hollow = Node("exp", (), EMPTY_ATTRS, x.type)  # inputs dropped, never realized
    with pytest.raises(VerifyError, match="neither inputs nor a value"):
        verify(Graph((apply("neg", [hollow]),)))


def test_realized_data_must_match_the_type():
    x = f32(2, 3)
    node = apply("exp", [x])
    values.record(node, np.zeros((3, 2), np.float32))
    with pytest.raises(VerifyError, match="holds data of shape"):
        verify(Graph((apply("neg", [node]),)))


def test_placeholders_need_no_value():
    from graphc.ir import placeholder_node

    p = placeholder_node((2,), np.float32, "cpux", "x")
    g = Graph((apply("exp", [p]),))
    assert verify(g) is g
