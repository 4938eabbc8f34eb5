"""Value types of the IR (graphc/ir/types.py): TensorType and frozen, hashable Attrs."""

import json

import numpy as np
import pytest

from graphc.ir import EMPTY_ATTRS, Attrs, TensorType


def test_tensor_type_properties():
    t = TensorType((2, 3, 4), np.dtype("float32"), "cpux")
    assert (t.ndim, t.size) == (3, int(np.prod((2, 3, 4))))
    scalar = TensorType((), np.dtype("int32"), "cpux")
    assert (scalar.ndim, scalar.size) == (0, 1)
    assert TensorType((0, 5), np.dtype("float32"), "cpux").size == 0
    assert t.with_shape([4, 6]) == TensorType((4, 6), np.dtype("float32"), "cpux")
    assert t.with_dtype("float16") == TensorType((2, 3, 4), np.dtype("float16"), "cpux")
    assert str(t) == "float32[2, 3, 4]@cpux"


def test_tensor_types_compare_by_value():
    a = TensorType((2,), np.dtype("float32"), "cpux")
    assert a == TensorType((2,), np.dtype(np.float32), "cpux")
    assert hash(a) == hash(TensorType((2,), np.dtype(np.float32), "cpux"))
    assert a != TensorType((2,), np.dtype("float16"), "cpux")
    assert a != TensorType((3,), np.dtype("float32"), "cpux")
    assert a != TensorType((2,), np.dtype("float32"), "cpu0")


@pytest.mark.parametrize(("value", "frozen"), [
    ([0, 1], (0, 1)),
    ([[1, 2], [3]], ((1, 2), (3,))),
    ((np.int64(3), [np.float32(0.5)]), (3, (0.5,))),
    (np.dtype("float16"), "float16"),
    (np.float32, "float32"),
    (np.int32, "int32"),
    (np.bool_(True), True),
    (np.int8(-4), -4),
    (np.float64(2.5), 2.5),
    (None, None), ("name", "name"), (1.5, 1.5), (False, False),
])
def test_attrs_freeze_values(value, frozen):
    a = Attrs(x=value)
    assert a["x"] == frozen
    assert type(a["x"]) is type(frozen)
    json.dumps(dict(a))  # frozen values are JSON-serialisable


@pytest.mark.parametrize("value", [{"a": 1}, {1, 2}, object(), np.zeros(2), [np.zeros(1)],
                                   1 + 2j, b"bytes"])
def test_attrs_reject_unserialisable_values(value):
    with pytest.raises(TypeError, match="not serialisable"):
        Attrs(x=value)


def test_attrs_hash_and_equality_ignore_order_and_container_type():
    a = Attrs({"axes": [0, 1], "keepdims": False})
    b = Attrs(keepdims=False, axes=(0, 1))
    assert a == b and hash(a) == hash(b)
    assert a != Attrs(axes=(0, 1), keepdims=True)
    assert a != Attrs(axes=(1, 0), keepdims=False)
    assert Attrs(dtype=np.float32) == Attrs(dtype="float32")
    assert len({a, b, Attrs(axes=(1,))}) == 2
    assert (a == {"axes": (0, 1), "keepdims": False}) is False


def test_attrs_are_a_read_only_mapping():
    a = Attrs({"b": 2}, a=1)
    assert list(a) == ["a", "b"] and len(a) == 2
    assert dict(a) == {"a": 1, "b": 2}
    assert a.items_tuple() == (("a", 1), ("b", 2))
    assert "a" in a and "c" not in a and a.get("c") is None
    with pytest.raises(KeyError):
        a["c"]
    with pytest.raises(TypeError):
        a["a"] = 3
    with pytest.raises(AttributeError):
        a.extra = 3
    assert repr(a) == "{a=1, b=2}"
    assert len(EMPTY_ATTRS) == 0 and EMPTY_ATTRS == Attrs()


def test_keyword_arguments_override_the_mapping():
    assert Attrs({"a": 1}, a=2)["a"] == 2
