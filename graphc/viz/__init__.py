"""Graph visualisation: draw what the compiler did, at each stage.

>>> import graphc, graphc.viz
>>> x = graphc.tensor([1., 2., 3.])
>>> g = graphc.viz.stage_graph(graphc.functional.relu(x * 2), stage="fused")
>>> [c["label"] for c in g.graph["clusters"].values()]
['k0_mul · 2 ops']

``export(target, path, stage=..., format=None, group_by=None, names=None)`` writes
``.dot``, ``.svg``, ``.png``, ``.json`` or ``.html`` (see docs/visualisation.md).
"""

from .capture import CapturedGraph, capture
from .dot import to_dot
from .export import FORMATS, export, to_json
from .graph_model import STAGES, stage_graph
from .html import to_html
from .render import GraphvizNotFoundError

__all__ = ["FORMATS", "STAGES", "CapturedGraph", "GraphvizNotFoundError", "capture", "export",
           "stage_graph", "to_dot", "to_html", "to_json"]
