"""The ``lower`` pass: ops that stand for a subgraph built on demand become that subgraph.

Two kinds of op are lowered here, so every later pass sees primitive ops only:

- ``grad_of``, a gradient ``GradManager.backward`` deferred: the structural key of a
  training step covers the forward graph and one marker per parameter, and the VJP
  graph is built here, once per compiled Program, instead of on every step;
- composite ops (``linear``, ``cross_entropy``, ...; see :mod:`graphc.ops.composite`):
  one node while the user's code builds the graph, their recorded template from here on.

It runs first after a Program-cache miss, so a cache hit never builds either, and it is
pure graph work (:mod:`graphc.ops.lowering`): nothing above ``graphc.ops`` is called.

A lowered subgraph may itself hold such ops (a gradient reads a composite node; a
composite's expansion uses another), so the pass repeats until none is left.
"""

from __future__ import annotations

from ..ir import Graph
from ..ops import lower_graph
from . import graph_pass
from .fold_constants import mark_known


@graph_pass("lower")
def lower(graph: Graph) -> Graph:
    """Replace every pending composite or marker node by what it stands for.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> lower(Graph((x,))).outputs == (x,)
    True
    """
    before = {n.uid for n in graph.nodes() if n.op == "scalar"}  # runtime arguments
    roots, mapping = lower_graph(graph.outputs)
    if not mapping:
        return graph
    lowered = Graph(tuple(roots))
    # Consts the lowered subgraphs brought in are built from structure alone (a mean's
    # 1/N, a rule's scalar): fold_constants may compute with them.
    mark_known([n for n in lowered.nodes() if n.op == "scalar" and n.uid not in before])
    return lowered
