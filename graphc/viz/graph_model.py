"""Compiler stages as networkx graphs: the model every export format draws.

:func:`stage_graph` returns a ``networkx.MultiDiGraph`` with one node per IR node
(``"n<uid>"``) and one edge per input use (``key`` = the argument position), so node and
edge counts are the IR's. Node attributes (documented in docs/visualisation.md):
``uid, op, role, output, shape, dtype, device, attrs, location, source, scope, phase,
name, label, tooltip, cluster`` (+ ``value`` for constants, ``kernel`` and ``view`` in
the fused stage). ``role`` is ``input``, ``parameter``, ``constant`` or ``op``;
``phase`` is ``forward``, ``backward`` (made by autodiff) or ``update`` (reads
gradients or only feeds nodes that do, e.g. an optimizer step). Graph attributes:
``stage``, ``name``, ``group_by``, ``outputs`` and ``clusters`` (cluster id → label, and
for kernels their kind, ops, boundary and generated source, as :func:`graphc.explain`
shows them).
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from ..codegen.cpu import render_kernel
from ..ir import FusedGraph, Graph, Node, is_frontier, structural_key
from ..passes import run_pipeline
from ..passes.fusion import fuse
from ..passes.schedule import schedule
from ..runtime.compiler import target_backend
from ..runtime.explain import _describe
from .grouping import group_by_module
from .source import SourceLines
from .target import Target, resolve

STAGES = ("built", "optimized", "fused", "backward")
GROUPINGS = (None, "module")
PHASE_LABELS = {"forward": "forward", "backward": "backward (autodiff)",
                "update": "update (reads gradients)"}


def stage_graph(target: Any, stage: str = "fused", group_by: str | None = None,
                names: Any = None) -> nx.MultiDiGraph:
    """The graph of ``target`` at compiler ``stage`` as a networkx MultiDiGraph.

    ``stage``: ``"built"`` (as written), ``"optimized"`` (after the simplification
    passes), ``"fused"`` (kernels as clusters), ``"backward"`` (deferred gradients
    lowered to their VJP graphs, in clusters by phase: forward, backward, update).
    ``group_by="module"`` collapses the op nodes of each module scope (within a cluster)
    into one node. ``names`` names parameters (a Module
    or ``{name: Tensor}``).

    >>> import graphc
    >>> x = graphc.tensor([1., 2.])
    >>> g = stage_graph(x * 2 + 1, stage="built")
    >>> sorted(d["op"] for _, d in g.nodes(data=True)), g.number_of_edges()
    (['add', 'broadcast_to', 'broadcast_to', 'buffer', 'const', 'mul', 'scalar'], 6)
    """
    if stage not in STAGES:
        raise ValueError(f"graphc.viz: unknown stage {stage!r}; choose one of {STAGES}")
    if group_by not in GROUPINGS:
        raise ValueError(f"graphc.viz: group_by must be None or 'module', got {group_by!r}")
    resolved = resolve(target, names)
    clusters: dict[str, dict] = {}
    fused = None
    originals = resolved.outputs
    if stage == "built":
        graph = Graph(tuple(resolved.outputs))
    elif stage == "backward":  # deferred gradients and composite ops drawn as what they are
        graph = run_pipeline(Graph(tuple(resolved.outputs)), ("lower",))
    elif stage == "optimized":
        graph = run_pipeline(Graph(tuple(resolved.outputs)),
                             capabilities=target_backend(resolved.outputs).capabilities)
    else:
        graph, fused, clusters, originals = _fused(resolved.outputs)
    _rename_outputs(resolved, originals, graph.outputs)
    g = _to_networkx(graph, resolved, stage, fused)
    if stage == "backward":
        phases = {d["phase"] for _, d in g.nodes(data=True) if d["role"] == "op"}
        clusters = {p: {"label": label, "kind": "phase"} for p, label in PHASE_LABELS.items()
                    if p in phases}
    g.graph["clusters"] = clusters
    if group_by == "module":
        g = group_by_module(g)
    return g


def _rename_outputs(target: Target, originals: list[Node], outputs: tuple[Node, ...]) -> None:
    """An output the passes replaced (a composite op's expansion, a simplified node)
    keeps the name the target gave the original."""
    for old, new in zip(originals, outputs):
        if old.uid != new.uid:
            for names in (target.parameter_names, target.input_names):
                if old.uid in names and new.uid not in names:
                    names[new.uid] = names[old.uid]


def _fused(outputs: list[Node]
           ) -> tuple[Graph, FusedGraph | None, dict[str, dict], list[Node]]:
    """The optimized graph, its kernels, one cluster per kernel (as ``explain`` sees
    them: only pending outputs are compiled; realized ones are drawn as inputs) and the
    original outputs in the order of the graph's."""
    pending = [n for n in outputs if n.buffer is None]
    done = tuple(n for n in outputs if n.buffer is not None)
    if not pending:
        return Graph(done), None, {}, list(done)
    _, args = structural_key(pending)
    runtime_scalars = {a.uid for a in args if a.op == "scalar"}
    backend = target_backend(pending)
    optimized = run_pipeline(Graph(tuple(pending)), capabilities=backend.capabilities)
    fused = schedule(fuse(optimized))
    clusters = {}
    for kernel in fused.kernels:
        item = kernel if kernel.kind == "library" else render_kernel(fused, kernel,
                                                                     runtime_scalars)
        info = _describe(item, backend)
        clusters[info.name] = {
            "label": f"{info.name} · {len(info.ops)} op{'s' if len(info.ops) != 1 else ''}",
            "kind": "kernel", "kernel_kind": info.kind, "ops": info.ops,
            "boundary": info.boundary, "source": info.source}
    return Graph(optimized.outputs + done), fused, clusters, pending + list(done)


def _to_networkx(graph: Graph, target: Target, stage: str,
                 fused: FusedGraph | None) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(stage=stage, name=target.name, group_by=None)
    nodes = graph.nodes()
    outputs = {n.uid for n in graph.outputs}
    phase = _phases(nodes, outputs)
    sources = SourceLines()
    for n in nodes:
        data = _node_data(n, target, n.uid in outputs, phase[n.uid], sources)
        if fused is not None:
            kernel = fused.kernel_of.get(n.uid)
            data["kernel"] = kernel.name if kernel is not None else None
            data["view"] = n.uid in fused.free
            data["cluster"] = data["kernel"]
        elif stage == "backward" and data["role"] == "op":
            data["cluster"] = data["phase"]
        g.add_node(f"n{n.uid}", **data)
    for n in nodes:
        if is_frontier(n):
            continue
        for k, i in enumerate(n.inputs):
            g.add_edge(f"n{i.uid}", f"n{n.uid}", key=k, arg=k)
    g.graph["outputs"] = [f"n{n.uid}" for n in graph.outputs]
    return g


def _phases(nodes: list[Node], outputs: set[int]) -> dict[int, str]:
    """uid → ``backward`` (made by autodiff), ``update`` (reads a gradient, or is computed
    only for nodes that do, like an optimizer's ``momentum * buffer``) or ``forward``."""
    phase: dict[int, str] = {}
    users: dict[int, list[int]] = {}
    # Nodes computed from constants alone (a broadcast zero) are hash-consed across
    # graphs and keep the metadata of whoever built them first, perhaps autodiff in
    # another graph: like leaves, they do not pass a phase on.
    constant: set[int] = set()
    for n in nodes:
        if n.op in ("const", "scalar") or (n.inputs and not is_frontier(n)
                               and all(i.uid in constant for i in n.inputs)):
            constant.add(n.uid)
        if n.meta.from_autodiff:
            phase[n.uid] = "backward"
        elif not is_frontier(n) and any(phase[i.uid] != "forward" and not i.is_leaf
                                        and i.uid not in constant for i in n.inputs):
            phase[n.uid] = "update"
        else:
            phase[n.uid] = "forward"
        if not is_frontier(n):
            for i in n.inputs:
                users.setdefault(i.uid, []).append(n.uid)
    for n in reversed(nodes):  # users before inputs
        if (phase[n.uid] == "forward" and not is_frontier(n) and n.uid not in outputs
                and n.uid in users and all(phase[u] == "update" for u in users[n.uid])):
            phase[n.uid] = "update"
    return phase


def _node_data(n: Node, target: Target, is_output: bool, phase: str,
               sources: SourceLines) -> dict:
    location, source = sources.where(n.meta)
    role = _role(n, target)
    name = target.parameter_names.get(n.uid) or target.input_names.get(n.uid) or (
        n.attrs.get("name", "") if n.op == "placeholder" else "")
    attrs = {k: _jsonable(v) for k, v in n.attrs.items()}
    data: dict[str, Any] = {
        "uid": n.uid, "op": n.op, "role": role, "output": is_output,
        "shape": list(n.type.shape), "dtype": n.type.dtype.name, "device": n.type.device,
        "attrs": attrs, "location": location, "source": source,
        "scope": n.meta.scope, "phase": phase, "name": name, "cluster": None}
    type_text = f"{n.type.dtype.name}{list(n.type.shape)}"
    if n.op in ("const", "scalar"):
        data["value"] = _jsonable(n.value)
        head = f"const {n.value!r}"
    elif role in ("input", "parameter"):
        head = name or (role if n.op in ("buffer", "placeholder") else f"{n.op} (computed)")
    else:
        head = n.op
    data["label"] = f"{head}\n{type_text}"
    attr_text = ", ".join(f"{k}={v}" for k, v in attrs.items())
    data["tooltip"] = (f"%{n.uid} {n.op}({attr_text}) : {type_text}"
                       f"{' in ' + n.meta.scope if n.meta.scope else ''}\n"
                       f"{location}{': ' + source if source else ''}")
    return data


def _role(n: Node, target: Target) -> str:
    if n.op == "placeholder":
        return "input"
    if n.op in ("const", "scalar"):
        return "constant"
    if n.uid in target.parameter_names:
        return "parameter"
    if is_frontier(n):
        return "parameter" if target.is_function and n.op == "buffer" else "input"
    return "op"


def _jsonable(value: Any) -> Any:
    """A JSON-safe form of an attribute or constant (tuples → lists, NaN/Inf → text)."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value
