"""Nested arguments and results: flatten to leaves, rebuild from leaves.

A structure is a Tensor (or array) leaf, None, a tuple, a list or a dict with str keys;
its *tree* records the nesting so values computed for the leaves can be put back in the
same shape. Non-tensor leaves of arguments are static values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor

LEAF = "leaf"


def is_tensor_like(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray))


def flatten(value: Any, leaves: list, names: list[str], path: str) -> Any:
    """Append the tensor leaves of ``value`` (and their names) to ``leaves`` / ``names``;
    return the tree. Other values are kept in the tree as they are (static)."""
    if is_tensor_like(value):
        leaves.append(value)
        names.append(path)
        return (LEAF, len(leaves) - 1)
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return (kind, tuple(flatten(v, leaves, names, f"{path}[{i}]")
                            for i, v in enumerate(value)))
    if isinstance(value, dict):
        return ("dict", tuple((k, flatten(v, leaves, names, f"{path}[{k!r}]"))
                              for k, v in value.items()))
    return ("static", value)


def unflatten(tree: tuple, values: list) -> Any:
    """Rebuild the structure of ``tree`` with ``values`` at its leaves.

    >>> leaves, names = [], []
    >>> tree = flatten({"a": (np.zeros(1), None)}, leaves, names, "out")
    >>> names, unflatten(tree, [7])
    (["out['a'][0]"], {'a': (7, None)})
    """
    kind, body = tree
    if kind == LEAF:
        return values[body]
    if kind == "tuple":
        return tuple(unflatten(t, values) for t in body)
    if kind == "list":
        return [unflatten(t, values) for t in body]
    if kind == "dict":
        return {k: unflatten(t, values) for k, t in body}
    return body


def to_json(tree: tuple) -> Any:
    """The tree as JSON (static leaves must be None, bool, int, float or str)."""
    kind, body = tree
    if kind == LEAF:
        return {"leaf": body}
    if kind in ("tuple", "list"):
        return {kind: [to_json(t) for t in body]}
    if kind == "dict":
        return {"dict": [[k, to_json(t)] for k, t in body]}
    if body is None or isinstance(body, (bool, int, float, str)):
        return {"static": body}
    raise TypeError(f"an output holds a {type(body).__name__}, which cannot be saved")


def from_json(data: Any, n_leaves: int) -> tuple:
    """Inverse of :func:`to_json`; ValueError on anything malformed."""
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"bad output structure {str(data)[:60]!r}")
    (kind, body), = data.items()
    if kind == "leaf":
        if not isinstance(body, int) or isinstance(body, bool) or not 0 <= body < n_leaves:
            raise ValueError(f"bad output index {body!r}")
        return (LEAF, body)
    if kind in ("tuple", "list") and isinstance(body, list):
        return (kind, tuple(from_json(t, n_leaves) for t in body))
    if kind == "dict" and isinstance(body, list):
        items = []
        for pair in body:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ValueError(f"bad output dict item {str(pair)[:60]!r}")
            items.append((pair[0], from_json(pair[1], n_leaves)))
        return ("dict", tuple(items))
    if kind == "static" and (body is None or isinstance(body, (bool, int, float, str))):
        return ("static", body)
    raise ValueError(f"bad output structure {str(data)[:60]!r}")
