"""Nested structures: flatten, unflatten, JSON."""

import numpy as np
import pytest

from graphc.jit.tree import flatten, from_json, to_json, unflatten


def test_round_trip_through_leaves_and_json():
    value = {"a": (np.zeros(1), [np.ones(2), None]), "b": 3}
    leaves, names = [], []
    tree = flatten(value, leaves, names, "out")
    assert names == ["out['a'][0]", "out['a'][1][0]"]
    assert unflatten(tree, ["L0", "L1"]) == {"a": ("L0", ["L1", None]), "b": 3}
    assert from_json(to_json(tree), 2) == tree


def test_malformed_json_trees_are_rejected():
    with pytest.raises(ValueError, match="bad output index"):
        from_json({"leaf": 5}, 2)
    with pytest.raises(ValueError, match="bad output structure"):
        from_json({"code": "os.system"}, 2)
