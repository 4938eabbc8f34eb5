"""The ``schedule`` pass: order kernels so each runs after the kernels it reads."""

from __future__ import annotations

from ..ir import FusedGraph
from . import graph_pass


@graph_pass("schedule")
def schedule(fused: FusedGraph) -> FusedGraph:
    """A topological order of ``fused.kernels`` (stable: keeps the fusion order where it
    is already valid).

    >>> import graphc
    >>> from graphc.ir import Graph
    >>> from graphc.passes.fusion import fuse
    >>> x = graphc.tensor([1., 2.])
    >>> len(schedule(fuse(Graph(((x * 2 + 1)._node,)))).kernels)
    1
    """
    producer = {}
    for k in fused.kernels:
        for out in k.members:
            producer[out.uid] = k
    done: set[int] = set()
    order = []
    for kernel in fused.kernels:
        stack = [(kernel, False)]
        while stack:
            k, expanded = stack.pop()
            if id(k) in done:
                continue
            if expanded:
                done.add(id(k))
                order.append(k)
                continue
            stack.append((k, True))
            for i in k.inputs:
                p = producer.get(fused.base_of(i).uid)
                if p is not None and id(p) not in done and p is not k:
                    stack.append((p, False))
    return FusedGraph(fused.graph, order, fused.kernel_of, fused.free)
