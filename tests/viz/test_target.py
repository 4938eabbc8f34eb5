"""resolve(): Tensors, lists of Tensors and function-like objects; parameter names."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.ir import buffer_node, placeholder_node
from graphc.ops import apply
from graphc.viz.target import resolve


def test_tensor_and_list_targets():
    x = graphc.Tensor([1., 2.], name="x")
    t = resolve(x * 2)
    assert [n.op for n in t.outputs] == ["mul"] and not t.is_function
    assert resolve(x).name == "x"
    assert [n.op for n in resolve([x + 1, x * 2]).outputs] == ["add", "mul"]


def test_function_targets_give_inputs_and_weights():
    x = placeholder_node((2,), np.float32, "cpux", "data")
    w = buffer_node(np.ones(2, np.float32), "cpux")

    class Fn:
        input_nodes, output_nodes, name = [x], [apply("mul", [x, w])], "fn"
        parameter_names = {w.uid: "scale"}

    t = resolve(Fn())
    assert t.is_function and t.name == "fn"
    assert t.input_names == {x.uid: "data"} and t.parameter_names == {w.uid: "scale"}


def test_names_from_a_module_a_mapping_or_live_parameters():
    import graphc.module as M

    fc = M.Linear(2, 3)
    named = resolve(fc(graphc.tensor([[1., 2.]])), names=fc).parameter_names
    assert sorted(named.values()) == ["bias", "weight"]
    assert named[fc.weight._node.uid] == "weight"
    p = graphc.Parameter([1.], name="gain")
    assert resolve(p * 2).parameter_names[p._node.uid] == "gain"  # found among live ones
    assert resolve(p * 2, names={"g": p}).parameter_names == {p._node.uid: "g"}


def test_bad_targets_name_the_problem_and_the_line():
    x = graphc.tensor([1.])
    with pytest.raises(TypeError, match=r"cannot draw a ndarray.*test_target.py:\d+"):
        resolve(np.ones(2))
    with pytest.raises(TypeError, match=r"must hold Tensors, got \['float'\]"):
        resolve([x, 1.0])
    with pytest.raises(TypeError, match="got an empty list"):
        resolve([])
    with pytest.raises(TypeError, match="output_nodes must be a non-empty list"):
        resolve(type("Fn", (), {"output_nodes": []})())
    with pytest.raises(TypeError, match="names= takes a Module or a mapping"):
        resolve(x, names=["w"])
    with pytest.raises(TypeError, match=r"names\['w'\] is a float"):
        resolve(x, names={"w": 1.0})
