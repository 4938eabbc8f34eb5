"""The ``lower`` pass: ops that stand for a subgraph built on demand become that subgraph.

Two kinds of op are lowered here, so every later pass sees primitive ops only:

- ``grad_of``, a gradient ``GradManager.backward`` deferred: the structural key of a
  training step covers the forward graph and one marker per parameter, and the VJP
  graph is built here, once per compiled Program, instead of on every step;
- composite ops (``linear``, ``cross_entropy``, ...; see
  :mod:`graphc.functional.composite`): one node while the user's code builds the graph,
  their primitive expansion from here on.

A lowered subgraph may itself hold such ops (a gradient reads a composite node; a
composite's expansion uses another), so the pass repeats until none is left.
"""

from __future__ import annotations

from ..ir import Graph, Node, is_frontier, rebuild
from ..ops import lowerings
from . import graph_pass
from .fold_constants import mark_known


@graph_pass("lower")
def lower(graph: Graph) -> Graph:
    """Replace every pending node whose op has a ``lower`` rule by what it stands for.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> lower(Graph((x,))).outputs == (x,)
    True
    """
    nodes = graph.nodes()
    before = {n.uid for n in nodes if n.op == "const"}  # may be runtime arguments
    while True:
        replaced = lowerings(nodes)
        if not replaced:
            # Consts the lowered subgraphs brought in are built from structure alone
            # (a mean's 1/N, a rule's scalar): fold_constants may compute with them.
            mark_known([n for n in nodes if n.op == "const" and n.uid not in before])
            return graph
        new: dict[int, Node] = {}
        for n in nodes:
            if n.uid in replaced:
                new[n.uid] = replaced[n.uid]
            elif is_frontier(n):
                new[n.uid] = n
            else:
                new[n.uid] = rebuild(n, tuple(new[i.uid] for i in n.inputs))
        graph = Graph(tuple(new[o.uid] for o in graph.outputs))
        nodes = graph.nodes()
