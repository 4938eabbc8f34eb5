"""Tensor and Parameter (graphc/tensor.py): construction, attributes, methods, operators,
Python protocols, repr and shape errors, checked against NumPy."""

import inspect
import operator

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import Parameter, Tensor

RNG = np.random.default_rng(0)


def _line_of(marker: str) -> int:
    """Line number of the first line of this file containing ``marker`` after the caller."""
    frame = inspect.currentframe().f_back
    lines, start = inspect.getsourcelines(frame.f_code)
    for offset, text in enumerate(lines):
        if marker in text and start + offset > frame.f_lineno:
            return start + offset
    raise AssertionError(f"marker {marker!r} not found")


# ---- construction ---------------------------------------------------------------

@pytest.mark.parametrize(("data", "expected"), [
    (np.arange(3, dtype=np.float64), np.float32),
    (np.arange(3, dtype=np.int64), np.int32),
    (np.arange(3, dtype=np.float16), np.float16),
    (np.arange(3, dtype=np.int32), np.int32),
    ([[1.0, 2.0], [3.0, 4.0]], np.float32),
    ([[1, 2], [3, 4]], np.int32),
    ([True, False], np.bool_),
    ([1, 2.5], np.float32),
    (1.5, np.float32),
    (7, np.int32),
    (True, np.bool_),
    (np.float64(2.0), np.float32),
    (np.int64(3), np.int32),
])
def test_default_dtypes_follow_megengine(data, expected):
    t = graphc.tensor(data)
    assert t.dtype == np.dtype(expected)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data).astype(expected))
    assert t.shape == np.shape(data)


@pytest.mark.parametrize("dtype", ["float16", "float32", "int32", "bool", np.int8, np.uint8])
def test_explicit_dtype(dtype):
    data = [[0, 1, 2], [3, 0, 1]]
    t = graphc.tensor(data, dtype=dtype)
    assert t.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(t.numpy(), np.array(data, dtype=dtype))


def test_construction_copies_the_input_array():
    a = np.arange(4, dtype=np.float32)
    t = Tensor(a)
    a[0] = 100
    assert t.numpy()[0] == 0


def readonly(a):
    a.flags.writeable = False
    return a


SHARED_OR_NOT = {  # array -> whether a Tensor may share it (nothing can write its memory)
    "read-only owner": (lambda: readonly(np.arange(6, dtype=np.float32)), True),
    "read-only bytes": (lambda: np.frombuffer(np.arange(6, dtype=np.float32).tobytes(),
                                              np.float32), True),
    "read-only view of a read-only owner":
        (lambda: readonly(readonly(np.arange(12, dtype=np.float32))[:6]), True),
    "read-only view of a writable array":
        (lambda: readonly(np.arange(12, dtype=np.float32)[:6]), False),
    "writable": (lambda: np.arange(6, dtype=np.float32), False),
    "read-only, another dtype": (lambda: readonly(np.arange(6, dtype=np.float64)), False),
    "read-only, not contiguous": (lambda: readonly(np.arange(12, dtype=np.float32))[::2],
                                  False),
}


@pytest.mark.parametrize("case", SHARED_OR_NOT)
def test_only_an_array_nothing_can_write_is_shared_instead_of_copied(case):
    make, shared = SHARED_OR_NOT[case]
    a = make()
    want = np.array(a, dtype=np.float32)
    t = Tensor(a, dtype=np.float32)
    assert (t._node.buffer is a) == shared
    assert not t._node.buffer.flags.writeable
    np.testing.assert_array_equal(t.numpy(), want)
    if not shared:
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base.flags.writeable:  # the writable memory under a changes; t does not
            base[...] = -1
            np.testing.assert_array_equal(t.numpy(), want)


def test_tensor_of_tensor_keeps_dtype_device_and_value():
    src = graphc.tensor([1, 2, 3], device="cpu0")
    t = Tensor(src)
    assert t.dtype == np.int32 and t.device == "cpu0"
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])
    assert Tensor(src, dtype="int32").dtype == np.int32


def test_tensor_of_tensor_with_other_dtype_or_device_raises():
    with pytest.raises(RuntimeError, match="astype"):
        Tensor(graphc.tensor([1, 2]), dtype="float32")
    with pytest.raises(RuntimeError, match="to"):
        Tensor(graphc.tensor([1, 2], device="cpu0"), device="cpu1")


def test_name_attribute():
    assert Tensor([1.0], name="weights").name == "weights"
    assert Tensor([1.0]).name == ""


def test_object_data_is_rejected():
    with pytest.raises(TypeError):
        Tensor([object()])


# ---- attributes and methods -----------------------------------------------------

def test_attributes_match_numpy():
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    t = graphc.tensor(a)
    assert isinstance(t.dtype, np.dtype) and t.dtype == a.dtype
    assert isinstance(t.shape, tuple) and t.shape == a.shape
    assert (t.ndim, t.size) == (a.ndim, a.size)
    assert t.device == graphc.get_default_device()
    scalar = graphc.tensor(3.0)
    assert (scalar.shape, scalar.ndim, scalar.size) == ((), 0, 1)


def test_numpy_returns_a_copy():
    t = graphc.tensor([1.0, 2.0])
    out = t.numpy()
    out[0] = 50.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_item_and_tolist():
    assert graphc.tensor(2.5).item() == 2.5
    assert isinstance(graphc.tensor(3).item(), int)
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert graphc.tensor(a).tolist() == a.tolist()
    assert graphc.tensor(a).item(1, 2) == a.item(1, 2)
    with pytest.raises(ValueError, match="one element"):
        graphc.tensor([1.0, 2.0]).item()


def test_astype_returns_new_tensor_and_keeps_original():
    a = np.array([1.7, -2.2, 0.0], dtype=np.float32)
    t = graphc.tensor(a)
    for dtype in ("int32", "float16", "bool"):
        u = t.astype(dtype)
        assert u is not t and u.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(u.numpy(), a.astype(dtype))
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), a)


def test_reshape_transpose_flatten_match_numpy():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = graphc.tensor(a)
    np.testing.assert_array_equal(t.reshape(4, -1).numpy(), a.reshape(4, -1))
    np.testing.assert_array_equal(t.reshape((6, 4)).numpy(), a.reshape((6, 4)))
    np.testing.assert_array_equal(t.reshape(-1).numpy(), a.reshape(-1))
    np.testing.assert_array_equal(t.transpose(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.transpose((1, 0, 2)).numpy(), a.transpose((1, 0, 2)))
    np.testing.assert_array_equal(t.transpose().numpy(), a.transpose())
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    np.testing.assert_array_equal(t.flatten().numpy(), a.reshape(-1))
    np.testing.assert_array_equal(t.flatten(1).numpy(), a.reshape(2, 12))
    np.testing.assert_array_equal(t.flatten(0, 1).numpy(), a.reshape(6, 4))


def test_reshape_with_two_unknowns_raises():
    with pytest.raises(graphc.ShapeError, match="reshape"):
        graphc.tensor(np.zeros((2, 3))).reshape(-1, -1)


def test_to_and_detach_keep_value():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = graphc.tensor(a) * 2
    moved = t.to("cpu0")
    assert moved.device == "cpu0" and moved.dtype == t.dtype
    np.testing.assert_array_equal(moved.numpy(), a * 2)
    np.testing.assert_array_equal(t.detach().numpy(), a * 2)
    np.testing.assert_array_equal(t.detach().numpy(), a * 2)  # detach of a realized node


REDUCTIONS = ["sum", "mean", "max", "min", "prod"]
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


def _input(kind: str) -> np.ndarray:
    if kind == "float":
        return RNG.standard_normal((2, 3, 4)).astype(np.float32)
    if kind == "int":
        return RNG.integers(-3, 4, size=(2, 3, 4)).astype(np.int32)
    return RNG.random((2, 3, 4)) > 0.5


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("method", REDUCTIONS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(kind, method, keepdims):
    a = _input(kind)
    t = graphc.tensor(a)
    for axis in AXES:
        got = getattr(t, method)(axis=axis, keepdims=keepdims)
        want = getattr(np, method)(a, axis=axis, keepdims=keepdims)
        # MegEngine's 64-bit → 32-bit rule; mean of ints/bools is float32
        want_dtype = graphc.dtypes.default_for_data(np.asarray(want).dtype)
        assert got.shape == want.shape, (method, axis)
        assert got.dtype == want_dtype, (method, axis)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


# ---- operators ------------------------------------------------------------------

BINARY = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
}
INPLACE = {
    "+": operator.iadd, "-": operator.isub, "*": operator.imul, "/": operator.itruediv,
    "//": operator.ifloordiv, "%": operator.imod, "**": operator.ipow,
}


def _operands(kind):
    if kind == "float":
        a = RNG.uniform(0.5, 3.0, (2, 3)).astype(np.float32) * RNG.choice([-1, 1], (2, 3))
        b = RNG.uniform(0.5, 2.0, (3,)).astype(np.float32)
    else:
        a = RNG.integers(-9, 10, (2, 3)).astype(np.int32)
        b = RNG.integers(1, 4, (3,)).astype(np.int32)
    return a, b


def _check(got, want):
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("symbol", list(BINARY))
def test_binary_operators_broadcast_like_numpy(kind, symbol):
    a, b = _operands(kind)
    op = BINARY[symbol]
    if kind == "float" and symbol == "**":
        a = np.abs(a)
    _check(op(graphc.tensor(a), graphc.tensor(b)), op(a, b))
    _check(op(graphc.tensor(a), b), op(a, b))          # NumPy array operand
    _check(op(graphc.tensor(a), 2), op(a, a.dtype.type(2)))
    _check(op(3, graphc.tensor(b)), op(b.dtype.type(3), b))  # reflected
    _check(op(a, graphc.tensor(b)), op(a, b))          # NumPy array on the left


@pytest.mark.parametrize("symbol", list(INPLACE))
def test_inplace_operators_rebind_and_keep_aliases(symbol):
    a, b = _operands("float")
    a = np.abs(a)
    y = graphc.tensor(a)
    alias = y
    before = y._node
    y = INPLACE[symbol](y, graphc.tensor(b))
    assert y is alias  # the same Python object, now holding a new node
    assert y._node is not before
    _check(y, BINARY[symbol](a, b))
    old = Tensor._wrap(before)
    np.testing.assert_array_equal(old.numpy(), a)


@pytest.mark.parametrize("realize_first", [False, True])
def test_inplace_add_leaves_tensors_taken_before_unchanged(realize_first):
    y = graphc.tensor([1.0, 2.0]) * 1
    if realize_first:
        graphc.realize(y)
    same_object = y
    alias = Tensor(y)  # shares y's node, not the Python object
    view = y[1:]
    derived = y * 3
    y += 10
    assert same_object is y
    np.testing.assert_array_equal(y.numpy(), [11.0, 12.0])
    np.testing.assert_array_equal(alias.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(view.numpy(), [2.0])
    np.testing.assert_array_equal(derived.numpy(), [3.0, 6.0])


def test_matmul_operator_and_reflected_form():
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    b = RNG.standard_normal((3, 4)).astype(np.float32)
    _check(graphc.tensor(a) @ graphc.tensor(b), a @ b)
    y = graphc.tensor(a)
    y @= graphc.tensor(b)
    _check(y, a @ b)


def test_matmul_with_numpy_operand_on_the_left():
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    b = RNG.standard_normal((3, 4)).astype(np.float32)
    _check(a @ graphc.tensor(b), a @ b)


def test_unary_operators():
    a = np.array([[-1.5, 0.0, 2.0]], dtype=np.float32)
    t = graphc.tensor(a)
    _check(-t, -a)
    _check(abs(t), np.abs(a))
    _check(+t, a)
    i = np.array([-3, 4], dtype=np.int32)
    assert (-graphc.tensor(i)).dtype == np.int32
    _check(abs(graphc.tensor(i)), np.abs(i))


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge,
                                operator.eq, operator.ne])
def test_comparisons_return_bool_tensors(op):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], dtype=np.float32)
    b = np.array([2.0, 2.0, 2.0], dtype=np.float32)
    got = op(graphc.tensor(a), graphc.tensor(b))
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got.numpy(), op(a, b))
    np.testing.assert_array_equal(op(graphc.tensor(a), 2).numpy(), op(a, 2))


def test_logical_operators_on_bools():
    p = np.array([[True, False], [True, True]])
    q = np.array([True, False])
    tp, tq = graphc.tensor(p), graphc.tensor(q)
    for op in (operator.and_, operator.or_, operator.xor):
        got = op(tp, tq)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), op(p, q))
        np.testing.assert_array_equal(op(True, tq).numpy(), op(True, q))  # reflected
    np.testing.assert_array_equal((~tp).numpy(), ~p)


@pytest.mark.parametrize("op", [operator.and_, operator.or_, operator.xor])
def test_logical_operators_reject_non_bool(op):
    with pytest.raises(TypeError, match="bool"):
        op(graphc.tensor([1, 2]), graphc.tensor([1, 0]))
    with pytest.raises(TypeError, match="bool"):
        op(graphc.tensor([True]), 1)


def test_invert_rejects_non_bool():
    with pytest.raises(TypeError):
        ~graphc.tensor([1.0, 2.0])


# ---- Python protocols -----------------------------------------------------------

def test_len_and_iteration():
    a = np.arange(6, dtype=np.int32).reshape(3, 2)
    t = graphc.tensor(a)
    assert len(t) == 3
    rows = list(t)
    assert len(rows) == 3
    for row, want in zip(rows, a):
        np.testing.assert_array_equal(row.numpy(), want)
    with pytest.raises(TypeError):
        len(graphc.tensor(1.0))


def test_array_protocol_and_conversions():
    a = np.array([[1.0, 2.0]], dtype=np.float32)
    t = graphc.tensor(a) + 1
    np.testing.assert_array_equal(np.asarray(t), a + 1)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert bool(graphc.tensor(0.0)) is False and bool(graphc.tensor([3])) is True
    assert int(graphc.tensor(2.9)) == 2
    assert float(graphc.tensor(3)) == 3.0
    assert [10, 20, 30][graphc.tensor(2)] == 30
    assert operator.index(graphc.tensor(-1)) == -1
    with pytest.raises(TypeError):
        operator.index(graphc.tensor(1.0))
    with pytest.raises(ValueError):
        bool(graphc.tensor([1.0, 2.0]))


def test_numpy_ufuncs_on_tensors():
    a = np.array([1.0, 4.0, 9.0], dtype=np.float32)
    arr = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    t = graphc.tensor(a)
    out = np.add(t, arr)
    assert isinstance(out, Tensor)
    _check(out, a + arr)
    _check(np.sqrt(t), np.sqrt(a))
    _check(np.multiply(arr, t), arr * a)
    # a ufunc graphc does not map runs in NumPy and comes back as a Tensor
    hyp = np.hypot(t, arr)
    assert isinstance(hyp, Tensor)
    np.testing.assert_allclose(hyp.numpy(), np.hypot(a, arr), rtol=1e-6)


# ---- repr -----------------------------------------------------------------------

def _body(a):
    return np.array_str(np.asarray(a), precision=4)


@pytest.mark.parametrize("data", [[1.0, 2.0, 3.0], 0.25, [[1.5, 2.0], [3.0, 4.125]],
                                  np.arange(12, dtype=np.float32).reshape(3, 4) / 7])
def test_repr_of_float32_omits_dtype(data):
    a = np.asarray(data, dtype=np.float32)
    assert repr(graphc.tensor(a)) == f"Tensor({_body(a)}, device=xpux:0)"


@pytest.mark.parametrize(("data", "dtype"), [([1, 2, 3], "int32"), ([True, False], "bool"),
                                             ([0.5, 1.0], "float16"), (5, "int32")])
def test_repr_names_other_dtypes(data, dtype):
    a = np.asarray(data, dtype=dtype)
    assert repr(graphc.tensor(a)) == f"Tensor({_body(a)}, dtype={dtype}, device=xpux:0)"


def test_repr_of_parameter_and_moved_tensor():
    assert repr(Parameter([1.0, 2.0])) == f"Parameter({_body([1.0, 2.0])}, device=xpux:0)"
    moved = graphc.tensor([1.0, 2.0]).to("cpu0")
    assert repr(moved) == f"Tensor({_body(np.float32([1.0, 2.0]))}, device=cpu0:0)"
    assert str(moved) == repr(moved)


# ---- Parameter ------------------------------------------------------------------

def test_parameter_is_a_tensor_and_arithmetic_gives_plain_tensors():
    p = Parameter([1.0, 2.0])
    assert isinstance(p, Tensor)
    for result in (p + 1, 1 + p, p * p, p - graphc.tensor([1.0, 1.0]), 2 * p, -p, p @ p):
        assert type(result) is Tensor
    np.testing.assert_array_equal((2 * p).numpy(), [2.0, 4.0])


# ---- shape errors name the op, the shapes and the user's line -------------------

def test_matmul_shape_error_names_op_shapes_and_line():
    a, b = graphc.tensor(np.ones((2, 3))), graphc.tensor(np.ones((4, 2)))
    line = _line_of("F.matmul(a, b)")
    with pytest.raises(graphc.ShapeError) as info:
        F.matmul(a, b)
    message = str(info.value)
    for part in ("matmul", "(2, 3)", "(4, 2)", f"test_tensor.py:{line}"):
        assert part in message, message


def test_broadcast_error_in_add_names_op_shapes_and_line():
    a, b = graphc.tensor(np.ones((2, 3))), graphc.tensor(np.ones((4,)))
    line = _line_of("a + b")
    with pytest.raises(graphc.ShapeError) as info:
        a + b
    message = str(info.value)
    for part in ("add", "(2, 3)", "(4,)", f"test_tensor.py:{line}"):
        assert part in message, message
