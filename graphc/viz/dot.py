"""The Graphviz DOT text of a stage graph (see :mod:`graphc.viz.graph_model`).

Inputs, parameters, constants, ops and outputs each have their own shape and colour;
clusters (kernels in the fused stage, phases in the backward stage) are DOT clusters.
Every node and cluster carries an ``id`` (the node id, ``cluster_<name>``), so the SVG
Graphviz renders has one ``<g class="node" id=...>`` per node for the HTML page to use.
"""

from __future__ import annotations

import networkx as nx

# role → DOT node attributes. Shapes differ as well as colours, so a print in grey works.
ROLE_STYLE = {
    "input": {"shape": "invhouse", "style": "filled", "fillcolor": "#cfe3ff",
              "color": "#2a5db0"},
    "parameter": {"shape": "cylinder", "style": "filled", "fillcolor": "#ffe2b8",
                  "color": "#b36b00"},
    "constant": {"shape": "box", "style": "filled,dotted", "fillcolor": "#eeeeee",
                 "color": "#888888", "fontsize": "8"},
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff",
           "color": "#444444"},
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#e3f1e3",
               "color": "#2e7d32"},
}
OUTPUT_STYLE = {"peripheries": "2", "color": "#c62828", "penwidth": "2"}
PHASE_FILL = {"forward": "#ffffff", "backward": "#fde0e0", "update": "#dff0d8"}
CLUSTER_STYLE = {
    "loop": {"style": "rounded,filled", "fillcolor": "#f1f5fb", "color": "#5b7db1"},
    "library": {"style": "rounded,filled", "fillcolor": "#fff5e0", "color": "#c08a00"},
    "forward": {"style": "rounded,filled", "fillcolor": "#fafafa", "color": "#9e9e9e"},
    "backward": {"style": "rounded,filled", "fillcolor": "#fff3f3", "color": "#c62828"},
    "update": {"style": "rounded,filled", "fillcolor": "#f2f9ef", "color": "#2e7d32"},
}


def quote(text: object) -> str:
    """A DOT double-quoted string; newlines become Graphviz's centred line breaks.

    >>> print(quote('say "hi"\\nnow'))
    "say \\"hi\\"\\nnow"
    """
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _attrs(attrs: dict[str, object]) -> str:
    return ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())


def node_style(data: dict, stage: str) -> dict[str, str]:
    """The DOT attributes of one node: its role's style, then phase, view and output."""
    style = dict(ROLE_STYLE[data["role"]])
    if stage == "backward" and data["role"] in ("op", "module"):
        style["fillcolor"] = PHASE_FILL[data["phase"]]
    if data.get("view"):
        style["style"] = "rounded,dashed"
        style["fontcolor"] = "#666666"
    if data["output"]:
        style.update(OUTPUT_STYLE)
    return style


def to_dot(g: nx.MultiDiGraph) -> str:
    """DOT text for a stage graph.

    >>> import graphc
    >>> from graphc.viz import stage_graph
    >>> text = to_dot(stage_graph(graphc.tensor([1., 2.]) * 3, stage="built"))
    >>> text.splitlines()[0], '"n' in text and "->" in text
    ('digraph "graphc" {', True)
    """
    stage = g.graph.get("stage", "")
    title = f"{g.graph.get('name', 'graph')} · {stage}" + (
        f" · grouped by {g.graph['group_by']}" if g.graph.get("group_by") else "")
    graph_attrs = {"rankdir": "TB", "fontname": "Helvetica", "label": title, "labelloc": "t",
                   "fontsize": "14", "nodesep": "0.25", "ranksep": "0.35", "bgcolor": "white"}
    lines = ['digraph "graphc" {',
             f"  graph [{_attrs(graph_attrs)}];",
             '  node [fontname="Helvetica", fontsize="10", margin="0.08,0.04", height="0.3"];',
             '  edge [color="#607080", arrowsize="0.6"];']
    clusters = g.graph.get("clusters", {})
    by_cluster: dict[str, list[str]] = {}
    loose: list[str] = []
    for nid, d in g.nodes(data=True):
        stmt = f"{quote(nid)} [{_attrs(_node_attrs(nid, d, stage))}];"
        if d.get("cluster") in clusters:
            by_cluster.setdefault(d["cluster"], []).append(stmt)
        else:
            loose.append(stmt)
    for name, info in clusters.items():
        if name not in by_cluster:
            continue
        style = CLUSTER_STYLE[info.get("kernel_kind") or name]
        lines.append(f"  subgraph {quote('cluster_' + name)} {{")
        cluster_attrs = dict(style, label=info["label"], id="cluster_" + name,
                             tooltip=info["label"], fontsize="11")
        lines.append(f"    graph [{_attrs(cluster_attrs)}];")
        lines += ["    " + s for s in by_cluster[name]]
        lines.append("  }")
    lines += ["  " + s for s in loose]
    for u, v, d in g.edges(data=True):
        extra = {"label": f"×{d['count']}", "fontsize": "8"} if d.get("count", 1) > 1 else {}
        lines.append(f"  {quote(u)} -> {quote(v)}" + (f" [{_attrs(extra)}]" if extra else "")
                     + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_attrs(nid: str, d: dict, stage: str) -> dict[str, object]:
    return dict(node_style(d, stage), label=d["label"], id=nid, tooltip=d["tooltip"])
