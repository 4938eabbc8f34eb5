"""``graphc.load_function``: run a dumped function without the model's Python code.

Loading reads the archive with ``allow_pickle=False`` and parses JSON; it never executes
code from the file. Every node is rebuilt through its op's own checks (an unknown op,
a type that does not match what its inputs give, a missing or misshapen weight, an
unknown format version, a truncated file: each is a ValueError saying which).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .. import random as graphc_random
from ..ir import Node, const_node, placeholder_node
from ..ops import OPS, apply
from ..tensor import Parameter, Tensor
from . import tree as trees
from .dump import FORMAT, VERSION
from .function import Capture, CompiledFunction
from .state import DataRef, StateRef, buffer_leaf


class _Bad(ValueError):
    pass


def load_function(path: str | os.PathLike) -> CompiledFunction:
    """Load a function written by :meth:`CompiledFunction.dump`; ValueError when the file
    is not one, is truncated or corrupt, or has an unknown format version.

    The loaded function's state (updated weights) lives in ``fn.variables`` (name →
    Tensor). See :func:`graphc.jit.dump.dump` for an example.
    """
    from ..serialization import load

    source = repr(os.fspath(path))
    try:
        saved = load(path)
    except ValueError as err:
        raise ValueError(f"graphc.load_function: {source} is not a readable compiled "
                         f"function ({err})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"graphc.load_function: {source} is not a dumped compiled function "
                         f"(no {FORMAT!r} format marker)")
    version = saved.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise ValueError(f"graphc.load_function: {source} has format version {version!r} "
                         f"(written by graphc {saved.get('graphc_version')!r}); this graphc "
                         f"reads versions 1 to {VERSION}")
    try:
        graph = json.loads(saved.get("graph"))
        weights = saved.get("weights")
        if not isinstance(graph, dict) or not isinstance(weights, dict):
            raise _Bad("the graph or the weights are missing")
        return _build(graph, weights)
    except (_Bad, json.JSONDecodeError, TypeError, KeyError) as err:
        raise ValueError(f"graphc.load_function: {source} is corrupt: {err}") from None
    except ValueError as err:  # a graphc shape or dtype error while rebuilding
        raise ValueError(f"graphc.load_function: {source} is corrupt: {err}") from None


def _field(obj: Any, key: str, kind: type | tuple) -> Any:
    if not isinstance(obj, dict) or key not in obj or not isinstance(obj[key], kind):
        raise _Bad(f"entry {str(obj)[:80]!r} has no valid {key!r}")
    return obj[key]


def _weight(weights: dict, name: Any, node_desc: str) -> np.ndarray:
    if not isinstance(name, str) or name not in weights:
        raise _Bad(f"{node_desc} refers to a missing weight {name!r}")
    value = weights[name]
    if not isinstance(value, np.ndarray):
        raise _Bad(f"weight {name!r} is not an array")
    return value


def _build(graph: dict, weights: dict) -> CompiledFunction:
    name = _field(graph, "name", str)
    variables: list[Tensor] = []
    for k, var in enumerate(_field(graph, "variables", list)):
        value = _weight(weights, _field(var, "weight", str), f"variable {k}")
        t = Parameter(value, dtype=value.dtype)
        t.name = _field(var, "name", str)
        variables.append(t)
    refs: list[StateRef] = [DataRef(t, t.name) for t in variables]
    nodes: list[Node] = []
    owners: dict[int, StateRef] = {}
    draws: dict[int, tuple] = {}
    for k, entry in enumerate(_field(graph, "nodes", list)):
        op = _field(entry, "op", str)
        shape = tuple(_field(entry, "shape", list))
        dtype = np.dtype(_field(entry, "dtype", str))
        device = _field(entry, "device", str)
        inputs = []
        for i in _field(entry, "inputs", list):
            if not isinstance(i, int) or not 0 <= i < k:
                raise _Bad(f"node {k} ({op}) reads node {i!r}, which does not precede it")
            inputs.append(nodes[i])
        attrs = {a: v for a, v in _field(entry, "attrs", list)}
        desc = f"node {k} ({op})"
        if op == "placeholder":
            node = placeholder_node(shape, dtype, device, str(attrs.get("name", f"in{k}")))
        elif op == "const":
            node = const_node(entry.get("value"), dtype, device)
        elif op == "buffer":
            if "variable" in entry:
                v = entry["variable"]
                if not isinstance(v, int) or not 0 <= v < len(variables):
                    raise _Bad(f"{desc} refers to a missing variable {v!r}")
                node = variables[v]._node
                owners[node.uid] = refs[v]
            elif "draw" in entry:
                d = entry["draw"]
                recipe = (_field(d, "kind", str), tuple(_field(d, "shape", list)),
                          np.dtype(_field(d, "dtype", str)), tuple(_field(d, "params", list)))
                value = graphc_random._global.redraw(recipe)
                node = buffer_leaf(value, _type(shape, dtype, device))
                draws[node.uid] = (graphc_random._global, recipe)
            else:
                value = _weight(weights, entry.get("weight"), desc)
                if not value.flags.c_contiguous:  # (ascontiguousarray makes 0-d 1-d)
                    value = np.ascontiguousarray(value)
                node = buffer_leaf(value, _type(shape, dtype, device))
        elif op in OPS:
            node = apply(op, inputs, **attrs)
        else:
            raise _Bad(f"{desc}: unknown op {op!r}")
        if node.type.shape != shape or node.type.dtype != dtype:
            raise _Bad(f"{desc} has type {node.type.dtype.name}{list(node.type.shape)}, the "
                       f"file says {dtype.name}{list(shape)}")
        nodes.append(node)

    def node_at(i: Any) -> Node:
        if not isinstance(i, int) or not 0 <= i < len(nodes):
            raise _Bad(f"reference to a missing node {i!r}")
        return nodes[i]

    inputs = [node_at(i) for i in _field(graph, "inputs", list)]
    if any(n.op != "placeholder" for n in inputs):
        raise _Bad("an input is not a placeholder")
    outputs = [node_at(i) for i in _field(graph, "outputs", list)]
    writes = []
    for w in _field(graph, "writes", list):
        v = _field(w, "variable", int)
        if not 0 <= v < len(refs):
            raise _Bad(f"an update writes a missing variable {v}")
        writes.append((refs[v], None if w.get("node") is None else node_at(w["node"])))
    probes = {}
    for p, s in _field(graph, "probes", dict).items():
        probes[int(p)] = str(s)
    capture = Capture(name, inputs, [str(n) for n in _field(graph, "input_names", list)],
                      outputs, trees.from_json(graph.get("tree"), len(outputs)), writes,
                      owners, draws, probes)
    fn = CompiledFunction(capture)
    fn.variables = {t.name: t for t in variables}  # the loaded state, held here
    return fn


def _type(shape: tuple, dtype: np.dtype, device: str):
    from ..ir import TensorType

    return TensorType(tuple(shape), dtype, device)
