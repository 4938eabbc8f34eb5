"""``CompiledFunction.dump``: a compiled function as JSON graph plus ``.npz`` weights.

The file is written with :func:`graphc.save` (one ``.npz`` archive, written atomically,
never pickled) and holds::

    {"format": "graphc.function", "version": 1, "graphc_version": "0.1.0",
     "graph": "<JSON text>", "weights": {"c0": array, "v0": array, ...}}

The graph JSON lists nodes in topological order, each ``{"op", "inputs", "attrs",
"shape", "dtype", "device"}`` plus, for leaves, where its value comes from: a
placeholder's ``name``, a const's ``value``, a constant ``weight`` (optimizer
hyper-parameters such as ``lr`` are saved so, with their values at dump time), a ``variable``
(state the function reads and updates, saved with its current value) or a random
``draw`` (drawn afresh on every call by the loading process's generator). Then the
inputs, the outputs and their nesting, the variables and the updates written to them.
"""

from __future__ import annotations

import json
import os
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ..ir import Node, topo_order
from . import tree as trees
from .errors import TraceError
from .state import DataRef, GradRef, HyperRef, StateRef

if TYPE_CHECKING:
    from .function import CompiledFunction

FORMAT = "graphc.function"
VERSION = 1


def dump(fn: CompiledFunction, path: str | os.PathLike | IO[bytes]) -> None:
    """Write ``fn`` to ``path``, a file name or a binary file object (see the module
    docstring).

    >>> import graphc, os, tempfile
    >>> x = graphc.placeholder((2,), name="x")
    >>> f = graphc.function([x], x + graphc.tensor([1., 2.]))
    >>> path = os.path.join(tempfile.mkdtemp(), "add.graphc")
    >>> f.dump(path)
    >>> graphc.load_function(path)(np.zeros(2, np.float32))
    array([1., 2.], dtype=float32)
    """
    from ..serialization import save
    from ..version import __version__

    c = fn.capture
    outputs = fn.output_nodes
    order = topo_order(list(c.inputs) + outputs)
    ids = {n.uid: k for k, n in enumerate(order)}
    weights: dict[str, np.ndarray] = {}
    variables: list[dict[str, Any]] = []
    var_of: list[StateRef] = []

    def variable(ref: StateRef, node: Node | None) -> int:
        for k, known in enumerate(var_of):
            if known.same(ref):
                return k
        var_of.append(ref)
        current = ref.node() or ref.fallback or node
        if current is None or current.buffer is None:
            raise TraceError(f"{fn.name}: cannot dump: {ref} has no value to save")
        name = f"v{len(variables)}"
        weights[name] = np.asarray(current.buffer)
        variables.append({"name": ref.name or name, "weight": name,
                          "kind": "grad" if isinstance(ref, GradRef) else "data"})
        return len(variables) - 1

    nodes = []
    for node in order:
        entry: dict[str, Any] = {
            "op": node.op, "inputs": [ids[i.uid] for i in node.inputs],
            "attrs": [[k, _jsonable(v)] for k, v in node.attrs.items_tuple()],
            "shape": list(node.type.shape), "dtype": node.type.dtype.name,
            "device": node.type.device}
        if node.op == "placeholder":
            pass
        elif node.op in ("const", "scalar"):  # written as "const": const_node picks the kind
            entry["op"] = "const"
            entry["value"] = node.value
        elif node.buffer is not None:
            owner = c.owners.get(node.uid)
            if owner is not None and not isinstance(owner, HyperRef):
                entry["variable"] = variable(owner, node)
            elif node.uid in c.draws:
                kind, shape, dtype, params = c.draws[node.uid][1]
                entry["draw"] = {"kind": kind, "shape": list(shape),
                                 "dtype": np.dtype(dtype).name,
                                 "params": [_jsonable(p) for p in params]}
            else:  # a constant; an optimizer hyper-parameter with its value now
                name = f"c{len(weights)}"
                weights[name] = np.asarray(node.buffer if owner is None
                                           else owner.read(node.type))
                entry["weight"] = name
        elif node.op == "custom_grad" or node.inputs:
            pass
        nodes.append(entry)
    writes = []
    for ref, node in c.writes:
        if not isinstance(ref, (DataRef, GradRef)):
            raise TraceError(f"{fn.name}: cannot dump an update of {ref}")
        writes.append({"variable": variable(ref, node),
                       "node": None if node is None else ids[node.uid]})
    graph = {
        "name": fn.name, "nodes": nodes, "inputs": [ids[n.uid] for n in c.inputs],
        "input_names": list(c.input_names), "outputs": [ids[n.uid] for n in c.outputs],
        "tree": trees.to_json(c.tree), "variables": variables, "writes": writes,
        "probes": {str(p): s for p, s in c.probes.items()},
    }
    save({"format": FORMAT, "version": VERSION, "graphc_version": __version__,
          "graph": json.dumps(graph), "weights": weights}, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TraceError(f"cannot dump a value of type {type(value).__name__}: {value!r}")
