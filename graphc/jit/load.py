"""``graphc.load_function``: run a dumped function without the model's Python code.

Loading reads the archive with :func:`graphc.load` (never unpickling) and parses JSON;
it never executes code from the file. Every size the file declares is checked against
:class:`graphc.LoadLimits` before anything of that size is allocated (the node count,
every node's shape, a random draw's shape, how deeply the graph's JSON nests), and every
attribute by type and range (:func:`graphc.ops.attrs.check_attrs`) before its node is
built. Every node is then rebuilt through its op's own checks (an unknown op, a type that
does not match what its inputs give, a missing or misshapen weight, an unknown format
version, a truncated file: each is a ValueError saying which).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .. import random as graphc_random
from ..ir import Node, const_node, placeholder_node
from ..limits import LimitError, LoadLimits, check_elements, over, parse_json
from ..ops import OPS, apply
from ..ops.attrs import DTYPE_NAMES, check_attrs
from ..tensor import Parameter, Tensor
from . import tree as trees
from .dump import FORMAT, VERSION
from .function import Capture, CompiledFunction
from .state import DataRef, StateRef, buffer_leaf


class _Bad(ValueError):
    pass


def load_function(path: str | os.PathLike, *,
                  limits: LoadLimits | None = None) -> CompiledFunction:
    """Load a function written by :meth:`CompiledFunction.dump`; ValueError when the file
    is not one, is truncated or corrupt, has an unknown format version, or declares sizes
    over ``limits`` (default: ``LoadLimits()``, from the environment).

    The loaded function's state (updated weights) lives in ``fn.variables`` (name →
    Tensor). See :func:`graphc.jit.dump.dump` for an example.
    """
    # functional and optimizer declare composite ops (sgd_step, momentum_buffer,
    # adam_step, ...) that a dumped graph may hold: a fresh process that loads a
    # training step may have imported neither.
    from .. import functional, optimizer  # noqa: F401
    from ..serialization import load

    limits = LoadLimits() if limits is None else limits
    source = repr(os.fspath(path))
    try:
        saved = load(path, limits=limits)
    except LimitError as err:
        raise LimitError(f"graphc.load_function: {str(err).removeprefix('graphc.load: ')}") \
            from None
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
        text, weights = saved.get("graph"), saved.get("weights")
        if not isinstance(text, str) or not isinstance(weights, dict):
            raise _Bad("the graph or the weights are missing")
        graph = parse_json(text, f"{source}'s graph", limits)
        if not isinstance(graph, dict):
            raise _Bad("the graph is not a JSON object")
        return _build(graph, weights, source, limits)
    except LimitError as err:
        raise LimitError(f"graphc.load_function: {err}") from None
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


def _dtype(name: Any, desc: str) -> np.dtype:
    if name not in DTYPE_NAMES:
        raise _Bad(f"{desc} has dtype {str(name)[:40]!r}, not one of "
                   f"{', '.join(sorted(DTYPE_NAMES))}")
    return np.dtype(name)


def _number(value: Any, desc: str) -> bool | int | float:
    if not isinstance(value, (bool, int, float)):
        raise _Bad(f"{desc} is {str(value)[:40]!r}, not a number")
    return value


# The kinds of random draw (graphc.random) and how many parameters each takes.
_DRAWS = {"uniform": 2, "normal": 2, "bernoulli": 1, "permutation": 0}


def _draw_recipe(d: Any, shape: tuple, dtype: np.dtype, desc: str) -> tuple:
    """A random draw's recipe, checked against its node's type (drawn only if it fits)."""
    kind = _field(d, "kind", str)
    params = _field(d, "params", list)
    if _DRAWS.get(kind) != len(params):
        raise _Bad(f"{desc} draws {kind[:40]!r} with {len(params)} parameters; known draws: "
                   + ", ".join(f"{k} ({n} parameters)" for k, n in _DRAWS.items()))
    for p in params:  # numbers (bernoulli: probabilities that broadcast to the shape)
        if isinstance(p, list) and kind == "bernoulli":
            try:
                np.broadcast_shapes(np.asarray(p, dtype=np.float64).shape, shape)
            except ValueError:
                raise _Bad(f"{desc} has probabilities that do not fit its shape") from None
        else:
            _number(p, f"{desc}'s parameter")
    recipe = (kind, tuple(_field(d, "shape", list)), _dtype(_field(d, "dtype", str), desc),
              tuple(params))
    if recipe[1] != shape or recipe[2] != dtype:
        raise _Bad(f"{desc} draws {recipe[2].name}{list(recipe[1])} for a node of type "
                   f"{dtype.name}{list(shape)}")
    return recipe


def _build(graph: dict, weights: dict, source: str, limits: LoadLimits) -> CompiledFunction:
    name = _field(graph, "name", str)
    entries = _field(graph, "nodes", list)
    if len(entries) > limits.max_nodes:
        raise over(f"{source} declares {len(entries)} nodes", "max_nodes", limits)
    variables: list[Tensor] = []
    for k, var in enumerate(_field(graph, "variables", list)):
        value = _weight(weights, _field(var, "weight", str), f"variable {k}")
        _dtype(value.dtype.name, f"variable {k}")
        t = Parameter(value, dtype=value.dtype)
        t.name = _field(var, "name", str)
        variables.append(t)
    refs: list[StateRef] = [DataRef(t, t.name) for t in variables]
    nodes: list[Node] = []
    owners: dict[int, StateRef] = {}
    draws: dict[int, tuple] = {}
    for k, entry in enumerate(entries):
        op = _field(entry, "op", str)
        desc = f"node {k} ({op[:40]})"
        try:
            shape = check_elements(_field(entry, "shape", list), desc, limits)
        except LimitError:
            raise
        except ValueError as err:
            raise _Bad(str(err)) from None
        dtype = _dtype(_field(entry, "dtype", str), desc)
        device = _field(entry, "device", str)
        inputs = []
        for i in _field(entry, "inputs", list):
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < k:
                raise _Bad(f"{desc} reads node {i!r}, which does not precede it")
            inputs.append(nodes[i])
        pairs = _field(entry, "attrs", list)
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise _Bad(f"{desc} has malformed attributes")
        try:
            attrs = check_attrs(op, dict(pairs), [i.type.ndim for i in inputs], len(inputs)) \
                if op not in ("placeholder", "const", "buffer") else dict(pairs)
        except ValueError as err:
            raise _Bad(f"{desc}: {err}") from None
        if op == "placeholder":
            label = attrs.get("name", f"in{k}")
            if not isinstance(label, str) or len(label) > 256:
                raise _Bad(f"{desc} has an invalid name {str(label)[:40]!r}")
            node = placeholder_node(shape, dtype, device, label)
        elif op == "const":
            node = const_node(_number(entry.get("value"), f"{desc}'s value"), dtype, device)
        elif op == "buffer":
            if "variable" in entry:
                v = entry["variable"]
                if not isinstance(v, int) or not 0 <= v < len(variables):
                    raise _Bad(f"{desc} refers to a missing variable {v!r}")
                node = variables[v]._node
                owners[node.uid] = refs[v]
            elif "draw" in entry:
                recipe = _draw_recipe(entry["draw"], shape, dtype, desc)
                value = graphc_random._default().redraw(recipe)
                node = buffer_leaf(value, _type(shape, dtype, device))
                draws[node.uid] = (graphc_random._default(), recipe)
            else:
                value = _weight(weights, entry.get("weight"), desc)
                if value.shape != shape or value.dtype != dtype:
                    raise _Bad(f"{desc} is {dtype.name}{list(shape)}, its weight "
                               f"{value.dtype.name}{list(value.shape)}")
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
