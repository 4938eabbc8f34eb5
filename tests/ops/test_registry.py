"""The op registry (graphc/ops/registry.py): every op is declared completely, names are
unique, and apply() reports inference errors with the op name and the user's line."""

import inspect
import os

import numpy as np
import pytest

import graphc.autodiff  # noqa: F401  (VJP rules register on import)
from graphc.ir import DTypeError, ShapeError, buffer_node
from graphc.ops import KINDS, OPS, apply, get_op, register
from graphc.ops.registry import check_devices


def next_line() -> str:
    """``file:line`` of the caller's next line: where an error should be reported."""
    frame = inspect.currentframe().f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno + 1}"


def _identity_infer(types, attrs):
    return types[0]


def _identity_reference(xs, attrs):
    return xs[0]


@pytest.fixture
def scratch_names():
    """Op names a test registers; removed afterwards so the registry stays as it was."""
    names: list[str] = []
    yield names
    for name in names:
        OPS.pop(name, None)


def test_every_op_declares_a_known_kind_and_a_reference():
    assert OPS
    for name, op in OPS.items():
        assert op.name == name
        assert op.kind in KINDS, name
        assert callable(op.infer) and callable(op.reference), name


def test_elementwise_ops_name_scalar_ops_and_movement_ops_have_index_maps():
    for name, op in OPS.items():
        if op.kind == "elementwise":  # a name (the text is each backend's), never a template
            assert isinstance(op.scalar_op, str) and op.scalar_op.isidentifier(), name
        if op.kind == "movement":
            assert callable(op.index_map), name


def test_differentiable_ops_have_vjp_rules():
    # custom_grad's gradient is the user Function's backward, applied by autodiff itself.
    missing = sorted(name for name, op in OPS.items() if op.differentiable
                     and op.kind != "leaf" and op.vjp is None and name != "custom_grad")
    assert not missing, f"differentiable ops without a VJP rule: {missing}"


def test_the_foundation_ops_are_registered():
    expected = {"add", "sub", "mul", "div", "floor_div", "mod", "neg", "pow", "abs", "exp",
                "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
                "maximum", "minimum", "where", "equal", "not_equal", "less", "less_equal",
                "greater", "greater_equal", "logical_and", "logical_or", "logical_xor",
                "logical_not", "isnan", "isinf", "sign", "floor", "ceil", "round", "erf",
                "astype", "sum", "prod", "max", "min", "argmax", "argmin", "matmul",
                "reshape", "transpose", "broadcast_to", "slice", "concat", "gather", "index",
                "setitem"}
    assert expected <= set(OPS), sorted(expected - set(OPS))


def test_registering_a_duplicate_name_raises():
    with pytest.raises(ValueError, match="add is already registered"):
        register("add", "elementwise", _identity_infer, _identity_reference, "copy")
    assert get_op("add").scalar_op == "add"


def test_register_rejects_incomplete_declarations(scratch_names):
    scratch_names += ["test_bad_kind", "test_no_template", "test_no_index_map"]
    with pytest.raises(ValueError, match="unknown kind"):
        register("test_bad_kind", "fancy", _identity_infer, _identity_reference)
    with pytest.raises(ValueError, match="needs a scalar op"):
        register("test_no_template", "elementwise", _identity_infer, _identity_reference)
    with pytest.raises(ValueError, match="needs an index map"):
        register("test_no_index_map", "movement", _identity_infer, _identity_reference)


def test_register_then_apply_a_new_op(scratch_names):
    scratch_names.append("test_twice")
    op = register("test_twice", "elementwise", _identity_infer,
                  lambda xs, attrs: xs[0] * 2, "({0} * 2)")
    assert get_op("test_twice") is op
    x = buffer_node(np.ones(3, np.float32), "cpux")
    node = apply("test_twice", [x])
    assert node.op == "test_twice" and node.type == x.type and node.inputs == (x,)


def test_get_op_of_an_unknown_name():
    with pytest.raises(KeyError, match="unknown op 'no_such_op'"):
        get_op("no_such_op")


def test_apply_hash_conses_identical_nodes():
    x = buffer_node(np.ones((2, 3), np.float32), "cpux")
    assert apply("transpose", [x], perm=(1, 0)) is apply("transpose", [x], perm=[1, 0])
    assert apply("transpose", [x], perm=(1, 0)) is not apply("transpose", [x], perm=(0, 1))


def test_apply_wraps_shape_errors_with_op_name_and_user_line():
    a = buffer_node(np.ones((2, 3), np.float32), "cpux")
    b = buffer_node(np.ones((4, 5), np.float32), "cpux")
    with pytest.raises(ShapeError) as info:
        where = next_line()
        apply("matmul", [a, b])
    message = str(info.value)
    assert message.startswith("matmul: ") and "(2, 3)" in message and "(4, 5)" in message
    assert where in message


def test_apply_wraps_dtype_errors_with_op_name_and_user_line():
    a = buffer_node(np.ones(3, np.float32), "cpux")
    b = buffer_node(np.ones(3, np.int32), "cpux")
    with pytest.raises(DTypeError) as info:
        where = next_line()
        apply("add", [a, b])
    message = str(info.value)
    assert message.startswith("add: ") and "float32" in message and "int32" in message
    assert where in message


def test_check_devices():
    a = buffer_node(np.ones(3, np.float32), "cpu0")
    b = buffer_node(np.ones(3, np.float32), "cpu1")
    assert check_devices([a.type, a.type]) == "cpu0"
    with pytest.raises(DTypeError, match="different devices"):
        check_devices([a.type, b.type])
    with pytest.raises(DTypeError, match="add: operands are on different devices"):
        apply("add", [a, b])
