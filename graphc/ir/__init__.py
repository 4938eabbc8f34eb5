"""The graph IR: typed, immutable, hash-consed nodes and their traversals.

Imports nothing else of graphc.
"""

from .errors import DTypeError, GraphcError, OpError, ShapeError
from .graph import Graph, count_nodes, is_frontier, pending_nodes, structural_key, topo_order
from .kernel import FusedGraph, Kernel
from .node import (
    LEAF_OPS,
    Node,
    NodeMeta,
    autodiff_marker,
    buffer_node,
    built_like,
    const_in_key,
    const_node,
    make_node,
    module_scope,
    placeholder_node,
    rebuild,
    user_location,
)
from .types import EMPTY_ATTRS, Attrs, TensorType

__all__ = [
    "LEAF_OPS", "Attrs", "DTypeError", "EMPTY_ATTRS", "FusedGraph", "Graph", "GraphcError",
    "Kernel", "Node", "NodeMeta",
    "OpError", "ShapeError", "TensorType", "autodiff_marker", "buffer_node", "built_like",
    "const_in_key",
    "const_node", "count_nodes", "is_frontier", "make_node", "module_scope", "pending_nodes",
    "placeholder_node", "rebuild", "structural_key", "topo_order", "user_location",
]
