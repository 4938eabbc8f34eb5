"""``graphc.viz.export``: write a compiler stage of a graph as DOT, SVG, PNG, JSON or HTML."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import networkx as nx

from ..fileio import atomic_write
from ..ir import user_location
from .dot import to_dot
from .graph_model import stage_graph
from .html import to_html
from .render import find_dot, render

FORMATS = ("dot", "svg", "png", "json", "html")
JSON_SCHEMA = "graphc.viz/1"
PNG_DPI = 96


def export(target: Any, path: str | os.PathLike, stage: str = "fused",
           format: str | None = None, group_by: str | None = None,
           names: Any = None) -> Path:
    """Write ``target``'s graph at ``stage`` to ``path``; the format follows the suffix.

    ``target``: a Tensor, a list of Tensors, or a compiled/loaded function (anything with
    ``output_nodes``, like :func:`graphc.viz.capture`'s record). ``stage``: ``"built"``,
    ``"optimized"``, ``"fused"`` (kernels as clusters) or ``"backward"`` (forward,
    gradient and update nodes apart). ``format``: ``dot``, ``svg``, ``png``, ``json``
    (networkx node-link) or ``html`` (one self-contained page); SVG, PNG and HTML need
    Graphviz's ``dot``. ``group_by="module"`` collapses each module scope into one node;
    ``names`` names parameters (a Module or ``{name: Tensor}``). Returns the path.

    >>> import graphc, json, tempfile, os
    >>> x = graphc.tensor([[1., 2.], [3., 4.]])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = export((x * 2).sum(axis=1), os.path.join(d, "g.json"))
    ...     doc = json.load(open(p))
    >>> doc["graph"]["stage"], [c["label"] for c in doc["graph"]["clusters"].values()]
    ('fused', ['k0_mul · 2 ops'])
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"graphc.viz.export: cannot tell the format of {str(path)!r}; use a "
                         f".dot, .svg, .png, .json or .html suffix or format= "
                         f"({user_location()})")
    if fmt in ("svg", "png", "html"):
        find_dot(f"export to {fmt.upper()}")  # fail before the (slower) graph work
    g = stage_graph(target, stage, group_by=group_by, names=names)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, _encode(g, fmt))  # a temporary file beside it, renamed over it
    return path


def _encode(g: nx.MultiDiGraph, fmt: str) -> bytes:
    if fmt == "json":
        return to_json(g).encode("utf-8")
    dot_text = to_dot(g)
    if fmt == "dot":
        return dot_text.encode("utf-8")
    if fmt == "png":
        return render(dot_text, "png", dpi=PNG_DPI)
    svg = render(dot_text, "svg").decode("utf-8")
    return (svg if fmt == "svg" else to_html(g, svg)).encode("utf-8")


def to_json(g: nx.MultiDiGraph) -> str:
    """networkx node-link JSON (``edges="edges"``) with ``graph.schema`` set.

    Read it back with ``networkx.node_link_graph(json.loads(text), edges="edges")``.

    >>> import graphc
    >>> from graphc.viz import stage_graph
    >>> doc = json.loads(to_json(stage_graph(graphc.tensor([1.]) + 1, "built")))
    >>> doc["graph"]["schema"], doc["multigraph"], len(doc["nodes"]), len(doc["edges"])
    ('graphc.viz/1', True, 4, 3)
    """
    data = nx.node_link_data(g, edges="edges")
    data["graph"] = dict(data["graph"], schema=JSON_SCHEMA)
    return json.dumps(data, indent=1, default=str)
