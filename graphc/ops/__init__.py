"""Op definitions, one file per family. Importing this package registers every op."""

from . import elementwise, indexing, layout, linalg, movement, pad, reduce, special  # noqa: F401
from .movement import broadcast_shapes
from .registry import KINDS, OPS, OpDef, apply, get_op, register

__all__ = ["KINDS", "OPS", "OpDef", "apply", "broadcast_shapes", "get_op", "register"]
