"""Loaded attributes are checked by type and range, and reach kernel source only as typed
number literals (issue 16, part 2)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ops import OPS, apply
from graphc.ops.attrs import OP_ATTRS, check_attrs, literal


@pytest.mark.parametrize("value", [0, -7, 2 ** 40, 1.5, -0.0, 1e-300, 3.4028235e38,
                                   True, False, np.int32(5), np.float32(0.1), np.bool_(1)])
def test_literal_is_the_number_itself(value):
    text = literal(value)
    back = eval(text, {"np": np, "__builtins__": {}})  # noqa: S307 (a number, by test)
    assert type(back) is type(value.item() if isinstance(value, np.generic) else value)
    assert back == value and math.copysign(1, back) == math.copysign(1, value)


def test_literal_writes_non_finite_floats_through_numpy():
    assert [literal(v) for v in (math.nan, math.inf, -math.inf)] == \
        ["np.nan", "np.inf", "-np.inf"]


@pytest.mark.parametrize("value", ["0", "1) or evil(", None, [1], (1,), 1j, b"1",
                                   np.array([1.0])])
def test_literal_refuses_anything_but_a_number(value):
    with pytest.raises(TypeError, match="a kernel literal must be an int, float or bool"):
        literal(value)


def test_a_string_pad_value_never_reaches_kernel_source(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    x = graphc.tensor(np.ones((64, 65), np.float32))  # not tiny: compiled at once
    y = graphc.Tensor._wrap(apply("pad", [x._node], pads=((1, 0), (0, 0)), mode="constant",
                                  value="float32(1) + 40"))
    with pytest.raises(TypeError, match="got str 'float32\\(1\\) \\+ 40'"):
        (y * 2).numpy()


def _dump_with(path, build) -> None:
    x = graphc.placeholder((2, 3), name="x")
    graphc.function([x], build(x)).dump(path)


def _set_attr(path, op: str, name: str, value) -> None:
    saved = graphc.load(path)
    graph = json.loads(saved["graph"])
    node = next(n for n in graph["nodes"] if n["op"] == op)
    node["attrs"] = [[k, value if k == name else v] for k, v in node["attrs"]]
    if name not in dict(node["attrs"]):
        node["attrs"].append([name, value])
    saved["graph"] = json.dumps(graph)
    graphc.save(saved, path)


@pytest.mark.parametrize("op, build, name, value, why", [
    ("pad", lambda x: F.pad(x, ((1, 0), (0, 2))), "value", "0) + (1",
     "must be an int, float or bool"),
    ("pad", lambda x: F.pad(x, ((1, 0), (0, 2))), "pads", [[1, 0], ["1", 2]],
     "must be a list of"),
    ("pad", lambda x: F.pad(x, ((1, 0), (0, 2))), "mode", "wrap",
     "must be one of constant, reflect, edge"),
    ("sum", lambda x: x.sum(axis=1), "axes", [5], "ints from -2 to 1"),
    ("sum", lambda x: x.sum(axis=1), "keepdims", "no", "must be a bool"),
    ("astype", lambda x: x.astype("int32"), "dtype", "object", "must be one of bool, "),
    ("reshape", lambda x: x.reshape(3, 2), "shape", [-3, -2], "ints from 0 to"),
    ("transpose", lambda x: x.T, "perm", [1, 0.5], "ints from 0 to 1"),
    ("sum", lambda x: x.sum(axis=1), "source", "import os", "is not an attribute of sum"),
])
def test_a_loaded_attribute_of_the_wrong_type_or_range_is_refused(tmp_path, op, build,
                                                                   name, value, why):
    path = tmp_path / "f.graphc"
    _dump_with(path, build)
    graphc.load_function(path)  # as dumped: loads
    _set_attr(path, op, name, value)
    with pytest.raises(ValueError, match=rf"is corrupt: node \d+ \({op}\): {op}: attribute "
                                         rf"{name}=.* {why}"):
        graphc.load_function(path)


def test_a_node_dtype_must_be_a_known_name(tmp_path):
    path = tmp_path / "f.graphc"
    _dump_with(path, lambda x: x * 2)
    saved = graphc.load(path)
    graph = json.loads(saved["graph"])
    graph["nodes"][0]["dtype"] = "object"
    saved["graph"] = json.dumps(graph)
    graphc.save(saved, path)
    with pytest.raises(ValueError, match="has dtype 'object', not one of bool, float16"):
        graphc.load_function(path)


def test_check_attrs_accepts_what_the_ops_build():
    assert check_attrs("pad", {"pads": [[1, 0]], "mode": "edge", "value": 0.0}, [1], 1) == \
        {"pads": ((1, 0),), "mode": "edge", "value": 0.0}
    spec = [["s", 0, 4, 2], ["i", 1], ["n"], ["a", 0]]
    assert check_attrs("index", {"spec": spec}, [3, 1], 2)["spec"] == \
        (("s", 0, 4, 2), ("i", 1), ("n",), ("a", 0))
    with pytest.raises(ValueError, match="must be an int from 0 to 0"):
        check_attrs("index", {"spec": [["a", 1]]}, [3, 1], 2)  # one index array: a0 only


def test_the_attribute_table_names_registered_ops_only():
    assert set(OP_ATTRS) <= set(OPS)
