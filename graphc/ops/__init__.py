"""Op definitions, one file per family. Importing this package registers every op."""

from . import (  # noqa: F401
    conv,
    elementwise,
    indexing,
    layout,
    linalg,
    movement,
    pad,
    pool,
    reduce,
    special,
)
from .composite import expansion, register_composite
from .exact import computes_exactly  # after the families: it flags their ops
from .lowering import lower_graph, lowerings
from .movement import broadcast_shapes
from .registry import KINDS, OPS, OpDef, apply, get_op, register
from .vjp import vjp_graph

__all__ = ["KINDS", "OPS", "OpDef", "apply", "broadcast_shapes", "computes_exactly",
           "expansion", "get_op", "lower_graph", "lowerings", "register", "register_composite",
           "vjp_graph"]
