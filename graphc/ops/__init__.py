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
from .movement import broadcast_shapes
from .registry import KINDS, OPS, OpDef, apply, get_op, lower_in_place, lowerings, register

__all__ = ["KINDS", "OPS", "OpDef", "apply", "broadcast_shapes", "get_op", "lower_in_place",
           "lowerings", "register"]
