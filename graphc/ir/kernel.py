"""Kernel descriptions: what the ``fuse`` pass produces and code generation renders.

A kernel is a group of nodes computed together. ``loop`` kernels become one generated
loop nest over ``domain`` (reducing ``reduce_axes``); ``library`` kernels call a library
routine (NumPy/BLAS) for one opaque op. Nodes outside every kernel are either frontier
nodes (inputs) or *free views*: movement ops over a stored value, read through their
index maps and never copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph
from .node import Node


@dataclass(eq=False)
class Kernel:
    """One fused group. ``outputs`` are the members stored for use outside the kernel."""

    name: str
    kind: str  # "loop" | "library"
    domain: tuple[int, ...]
    reduce_axes: tuple[int, ...] = ()
    members: list[Node] = field(default_factory=list)
    outputs: list[Node] = field(default_factory=list)
    inputs: list[Node] = field(default_factory=list)
    boundary: str = ""  # why this kernel could not join an earlier one

    @property
    def ops(self) -> list[str]:
        return [n.op for n in self.members]

    def __repr__(self) -> str:
        return (f"Kernel({self.name}, {self.kind}, domain={self.domain}, "
                f"reduce={self.reduce_axes}, ops={self.ops})")


@dataclass(eq=False)
class FusedGraph:
    """A graph partitioned into kernels, in a valid execution order."""

    graph: Graph
    kernels: list[Kernel]
    kernel_of: dict[int, Kernel]  # member uid → its kernel
    free: dict[int, Node]  # uid → free view nodes (movement over stored values)

    def base_of(self, node: Node) -> Node:
        """The stored value a free view reads (the node itself if it is not free)."""
        while node.uid in self.free:
            node = node.inputs[0]
        return node
