"""The ``plan_memory`` pass: assign intermediate values to reusable buffers.

Values that leave the Program (its outputs, and stored values that an output views) get
fresh buffers each call. Every other stored value gets a buffer owned by the Program,
reused across calls and, by liveness, between values whose lifetimes do not overlap.
Inputs are never written.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import FusedGraph, Node
from . import graph_pass


@dataclass
class MemoryPlan:
    """``buffer_of[uid]`` is the Program buffer of a stored intermediate; ``buffers`` holds
    each buffer's (shape, dtype). Uids absent from ``buffer_of`` get fresh arrays."""

    buffer_of: dict[int, int]
    buffers: list[tuple[tuple[int, ...], object]]

    @property
    def planned_bytes(self) -> int:
        import numpy as np

        return sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d in self.buffers)


@graph_pass("plan_memory")
def plan_memory(fused: FusedGraph, outputs: list[Node] | None = None) -> MemoryPlan:
    """Liveness-based buffer assignment for the stored intermediates of ``fused``.

    >>> import graphc
    >>> from graphc.ir import Graph
    >>> from graphc.passes.fusion import fuse
    >>> x = graphc.tensor([[1., 2.]])
    >>> plan_memory(fuse(Graph(((x @ x.T + 1)._node,)))).buffers
    [((1, 1), dtype('float32'))]
    """
    outputs = list(outputs if outputs is not None else fused.graph.outputs)
    escaping = {fused.base_of(o).uid for o in outputs}
    last_use: dict[int, int] = {}
    for step, k in enumerate(fused.kernels):
        for i in k.inputs:
            last_use[fused.base_of(i).uid] = step
    free_buffers: list[int] = []
    plan = MemoryPlan({}, [])
    for step, k in enumerate(fused.kernels):
        for out in k.outputs:
            if out.uid in escaping:
                continue
            key = (out.type.shape, out.type.dtype)
            match = next((b for b in free_buffers if plan.buffers[b] == key), None)
            if match is None:
                plan.buffers.append(key)
                match = len(plan.buffers) - 1
            else:
                free_buffers.remove(match)
            plan.buffer_of[out.uid] = match
        # Release buffers whose last reader is this kernel (after it has written).
        for uid, b in plan.buffer_of.items():
            if last_use.get(uid, -1) == step and b not in free_buffers:
                free_buffers.append(b)
    return plan
