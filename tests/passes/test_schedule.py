"""The schedule pass: kernels run after the kernels they read."""

import numpy as np

import graphc
import graphc.functional as F
from graphc.ir import FusedGraph, Graph
from graphc.passes.fusion import fuse
from graphc.passes.schedule import schedule

rng = np.random.default_rng(0)


def producers_first(fused: FusedGraph) -> bool:
    position = {id(k): i for i, k in enumerate(fused.kernels)}
    for k in fused.kernels:
        for i in k.inputs:
            p = fused.kernel_of.get(fused.base_of(i).uid)
            if p is not None and p is not k and position[id(p)] > position[id(k)]:
                return False
    return True


def test_reversed_kernel_order_is_repaired():
    x = graphc.tensor(rng.standard_normal((8, 8)).astype(np.float32))
    y = F.softmax(x @ x, axis=0).sum(axis=1) * 2
    fused = fuse(Graph((y._node,)))
    assert len(fused.kernels) >= 3
    shuffled = FusedGraph(fused.graph, list(reversed(fused.kernels)), fused.kernel_of,
                          fused.free)
    assert not producers_first(shuffled)
    repaired = schedule(shuffled)
    assert producers_first(repaired)
    assert sorted(map(id, repaired.kernels)) == sorted(map(id, fused.kernels))


def test_valid_order_is_kept():
    x = graphc.tensor(rng.standard_normal((8, 8)).astype(np.float32))
    y = (x @ x).sum(axis=0)
    fused = fuse(Graph((y._node,)))
    assert [id(k) for k in schedule(fused).kernels] == [id(k) for k in fused.kernels]
