"""Graph nodes (graphc/ir/node.py): hash-consing, leaves, metadata and realization."""

import inspect
import math

import numpy as np
import pytest

import graphc
from graphc.ir import (
    Attrs,
    TensorType,
    autodiff_marker,
    buffer_node,
    const_in_key,
    const_node,
    make_node,
    module_scope,
    placeholder_node,
    rebuild,
    user_location,
    values,
)
from graphc.ops import apply


def _buffer(shape=(2, 3), dtype=np.float32):
    return buffer_node(np.zeros(shape, dtype=dtype), "cpux")


def _next_line() -> int:
    """The line after the caller's."""
    return inspect.currentframe().f_back.f_lineno + 1


# ---- hash-consing ---------------------------------------------------------------

def test_same_op_inputs_and_attrs_give_the_same_node():
    x, y = _buffer(), _buffer()
    assert apply("add", [x, y]) is apply("add", [x, y])
    assert apply("transpose", [x], perm=[1, 0]) is apply("transpose", [x], perm=(1, 0))
    assert apply("sum", [x], axes=(0,), keepdims=False) is \
        apply("sum", [x], keepdims=False, axes=[0])


def test_different_op_inputs_or_attrs_give_different_nodes():
    x, y = _buffer(), _buffer()
    add = apply("add", [x, y])
    assert apply("add", [y, x]) is not add
    assert apply("mul", [x, y]) is not add
    assert apply("sum", [x], axes=(0,), keepdims=False) is not \
        apply("sum", [x], axes=(0,), keepdims=True)
    assert apply("astype", [x], dtype="float16") is not apply("astype", [x], dtype="int32")


def test_make_node_conses_on_type_too():
    x = _buffer()
    t32 = TensorType((2, 3), np.dtype("float32"), "cpux")
    t16 = t32.with_dtype("float16")
    a = make_node("custom", (x,), Attrs(k=1), t32)
    assert make_node("custom", (x,), Attrs(k=1), t32) is a
    assert make_node("custom", (x,), Attrs(k=1), t16) is not a


def test_tensor_expressions_share_nodes():
    x = graphc.tensor(np.ones(3, dtype=np.float32))
    assert (x * -1 + 1)._node is (x * -1 + 1)._node
    # Other scalars are runtime arguments: equal values are never merged, so graphs that
    # differ only in scalar values keep one shape (and one structural key).
    assert (x * 2)._node is not (x * 2)._node


def test_buffers_and_placeholders_are_never_consed():
    data = np.zeros(2, dtype=np.float32)
    assert buffer_node(data, "cpux") is not buffer_node(data, "cpux")
    assert placeholder_node((2,), "float32", "cpux", "x") is not \
        placeholder_node((2,), "float32", "cpux", "x")


def test_key_consts_are_consed_by_value_dtype_and_device():
    assert const_node(1.0, "float32", "cpux") is const_node(1, np.float32, "cpux")
    assert const_node(1.0, "float32", "cpux") is not const_node(1.0, "float16", "cpux")
    assert const_node(-1.0, "float32", "cpux") is not const_node(-1.0, "float32", "cpu0")
    assert const_node(0.0, "float32", "cpux") is not const_node(-0.0, "float32", "cpux")
    assert const_node(1, "int32", "cpux") is const_node(True, "int32", "cpux")


def test_runtime_scalars_are_fresh_nodes():
    assert const_node(0.5, "float32", "cpux") is not const_node(0.5, "float32", "cpux")
    assert const_node(math.nan, "float32", "cpux") is not const_node(math.nan, "float32", "cpux")


def test_unreferenced_nodes_are_not_kept_alive_by_the_cons_table():
    import gc
    import weakref

    x = _buffer()
    ref = weakref.ref(apply("neg", [x]))
    gc.collect()
    assert ref() is None


# ---- leaves ---------------------------------------------------------------------

def test_leaf_nodes():
    data = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = buffer_node(data, "cpu0")
    assert (b.op, b.inputs, b.is_leaf, b.realized) == ("buffer", (), True, True)
    assert b.type == TensorType((2, 3), np.dtype("int32"), "cpu0")
    assert (b.shape, b.dtype) == ((2, 3), np.dtype("int32"))
    assert b.buffer is data

    c = const_node(2.5, "float16", "cpux")
    # a runtime scalar (keyed by dtype alone); 0 and ±1 are consts (in the key)
    assert (c.op, c.value, c.shape, c.dtype) == ("scalar", 2.5, (), np.dtype("float16"))
    assert const_node(-1, "float16", "cpux").op == "const"
    assert c.realized and c.buffer.dtype == np.float16 and c.buffer == 2.5
    assert type(const_node(3, "float32", "cpux").value) is float  # the dtype's Python type

    p = placeholder_node([4, 1], "int32", "cpux", "ids")
    assert (p.op, p.shape, p.attrs["name"], p.realized) == ("placeholder", (4, 1), "ids", False)


@pytest.mark.parametrize(("value", "in_key"), [
    (0, True), (1, True), (-1, True), (0.0, True), (1.0, True), (-1.0, True), (-0.0, True),
    (True, True), (False, True), (0.5, False), (2, False), (-2.0, False), (math.nan, False),
    (math.inf, False),
])
def test_only_zero_and_plus_minus_one_are_in_the_key(value, in_key):
    dtype = "bool" if isinstance(value, bool) else "float32"
    assert const_in_key(const_node(value, dtype, "cpux")) is in_key


def test_op_nodes_are_not_leaves():
    n = apply("neg", [_buffer()])
    assert not n.is_leaf and not n.realized and n.buffer is None


# ---- depth and realization ------------------------------------------------------

def test_depth_counts_the_pending_chain():
    x = _buffer()
    a = apply("neg", [x])
    b = apply("add", [a, apply("neg", [a])])
    # the longest chain of pending nodes ending here: b ← neg(a) ← a (x is realized)
    assert (a.depth, b.depth) == (1, 3)
    values.record(a, np.zeros((2, 3), np.float32))
    assert apply("exp", [a]).depth == 1  # a realized input ends the chain


def test_a_realized_node_keeps_its_inputs_and_its_value_lives_with_it():
    import gc

    x = _buffer()
    a = apply("neg", [x])
    values.record(a, np.zeros((2, 3), np.float32))
    assert a.inputs == (x,) and a.realized
    before = values.count()
    del a
    gc.collect()
    assert values.count() == before - 1  # the table holds no node alive, nor outlives one


def test_no_module_assigns_a_node_field_outside_its_constructor():
    """The IR is frozen: a node's fields are set when it is built and never again. Every
    assignment to a node field in graphc/ (``x.op = ``, ``x.inputs = ``, ...) outside
    graphc/ir/node.py, which builds nodes, is a mutation of a shared node."""
    import pathlib
    import re

    root = pathlib.Path(graphc.__file__).parent
    field = re.compile(r"\b(?!self\b)\w+\.(op|inputs|attrs|type|uid|value|data|depth|_meta)"
                       r"\s*(,\s*\w+\.\w+\s*)*=[^=]")
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "node.py" and path.parent.name == "ir":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if field.search(code) and "==" not in code.split("=")[0]:
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not offenders, offenders


# ---- rebuild ----------------------------------------------------------------------

def test_rebuild_swaps_inputs():
    x, y = _buffer(), _buffer()
    n = apply("neg", [x])
    assert rebuild(n, (x,)) is n
    m = rebuild(n, (y,))
    assert (m.op, m.inputs, m.attrs, m.type) == (n.op, (y,), n.attrs, n.type)
    assert rebuild(n, (y,)) is m  # consed like any other node


def test_rebuild_keeps_metadata_of_a_new_node():
    x, y = _buffer(), _buffer()
    with module_scope("encoder"):
        n = apply("exp", [x])
    m = rebuild(n, (y,))
    assert m.inputs == (y,) and m.meta is n.meta


def test_rebuild_rejects_inputs_of_another_type():
    n = apply("neg", [_buffer()])
    with pytest.raises(TypeError, match="neg"):
        rebuild(n, (_buffer((3, 2)),))


# ---- metadata -----------------------------------------------------------------------

def test_meta_location_is_the_users_line():
    x = _buffer()
    line = _next_line()
    n = apply("neg", [x])
    assert n.meta.location == f"test_node.py:{line}"
    t = graphc.tensor(np.ones(2, dtype=np.float32))
    line = _next_line()
    u = (t * 3)._node
    assert u.meta.location == f"test_node.py:{line}"
    assert not u.meta.from_autodiff and u.meta.scope == ""


def test_user_location_skips_graphc_frames():
    line = _next_line()
    assert user_location() == f"test_node.py:{line}"


def test_module_scope_nests_and_unwinds():
    x = _buffer()
    with module_scope("net"):
        a = apply("exp", [x])
        with module_scope("layer1"):
            b = apply("log", [x])
        c = apply("sin", [x])
    d = apply("cos", [x])
    assert (a.meta.scope, b.meta.scope, c.meta.scope, d.meta.scope) == \
        ("net", "net.layer1", "net", "")


def test_module_scope_unwinds_on_error():
    x = _buffer()
    with pytest.raises(RuntimeError), module_scope("broken"):
        raise RuntimeError
    assert apply("tanh", [x]).meta.scope == ""


def test_autodiff_marker():
    x = _buffer()
    with autodiff_marker():
        with autodiff_marker():
            a = apply("sqrt", [x])
        b = apply("abs", [x])
    c = apply("floor", [x])
    assert (a.meta.from_autodiff, b.meta.from_autodiff, c.meta.from_autodiff) == \
        (True, True, False)


def test_meta_is_outside_the_cons_key():
    x = _buffer()
    with module_scope("first"):
        a = apply("ceil", [x])
    with module_scope("second"), autodiff_marker():
        b = apply("ceil", [x])
    assert a is b and b.meta.scope == "first"


def test_repr_shows_op_inputs_and_type():
    x = _buffer()
    n = apply("transpose", [x], perm=(1, 0))
    assert repr(n) == f"%{n.uid} = transpose(%{x.uid}) {{perm=(1, 0)}} : float32[3, 2]@cpux"
    c = const_node(0.5, "float32", "cpux")
    assert repr(c) == f"%{c.uid} = scalar() 0.5 : float32[]@cpux"
