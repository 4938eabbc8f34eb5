"""Ops whose compiled form computes the same bits as their NumPy reference.

A graph seen for the first time whose values are all tiny runs in the reference
interpreter (printing a scalar should not cost a compile); from its second sighting it
runs compiled (graphc/runtime/compiler.py). The two must give the same bits, so that
tier takes only graphs whose every computed node :func:`computes_exactly`. Each op's
``OpDef.exact`` says why it qualifies (set here, the one place that lists them):

- ``"always"``: the result is one of the operands' values, a bool, or an exact
  conversion: movement, copies, selections (``where``, ``maximum``, ``minimum``,
  ``relu``), comparisons and logic, ``isnan``/``isinf``, casts (not
  float to integer: NumPy's conversion of NaN, inf or an out-of-range float is C's
  undefined behaviour, and numba's differs), and opaque ops whose Program step is
  their NumPy reference itself (indexing, gather, setitem, concat);
- ``"wide"``: IEEE-754 arithmetic, correctly rounded (``add``, ``sub``, ``mul``,
  ``div``) or exact (``neg``, ``abs``), and wrapping for integers. A kernel computes
  float16 in float32 and numba computes narrower integers in 64 bits, rounding or
  wrapping only at the kernel's outputs, where NumPy does after every op: one such op
  gives the same bits, a chain does not (``(a + b) * c`` in float16, ``a + b > c`` in
  int32 after an overflow). So these qualify only in float32, float64, int64 and
  uint64.

Kernels without a reduction compile with strict IEEE arithmetic (no ``reassoc``: see
``FASTMATH`` in graphc/codegen/cpu.py), so a chain of these ops is computed as written.
tests/codegen/test_exact_ops.py checks every flagged op against its reference bit for
bit, with signed zeros, infinities, NaNs and subnormals.

>>> import numpy as np
>>> from graphc.ir import buffer_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.ones(3, np.float32), "cpux")
>>> computes_exactly(apply("add", [x, x])), computes_exactly(apply("exp", [x]))
(True, False)
>>> h = apply("astype", [x], dtype="float16")
>>> computes_exactly(h), computes_exactly(apply("add", [h, h]))
(True, False)
"""

from __future__ import annotations

import numpy as np

from ..ir import Node
from .registry import OPS

EXACT = {
    **dict.fromkeys(("reshape", "transpose", "broadcast_to", "slice", "pad"), "always"),
    **dict.fromkeys(("copy", "detach", "identity", "where", "astype",
                     "maximum", "minimum", "relu"), "always"),
    **dict.fromkeys(("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                     "logical_and", "logical_or", "logical_xor", "logical_not", "isnan",
                     "isinf"), "always"),
    **dict.fromkeys(("index", "gather", "setitem", "concat", "to_device"), "always"),
    **dict.fromkeys(("add", "sub", "mul", "div", "neg", "abs"), "wide"),
}
for _name, _how in EXACT.items():
    OPS[_name].exact = _how

# Dtypes a kernel computes at their own width (see the module doc).
WIDE = frozenset(np.dtype(t) for t in ("float32", "float64", "int64", "uint64"))


def computes_exactly(node: Node) -> bool:
    """Whether compiled code computes ``node`` from its inputs with the same bits as its
    NumPy reference (module doc). Leaves and realized nodes are not computed: callers
    ask only about pending nodes."""
    how = OPS[node.op].exact
    if how == "wide":
        return node.type.dtype in WIDE
    if how != "always":
        return False
    if node.op == "astype":
        src, dst = node.inputs[0].type.dtype, node.type.dtype
        return not (np.issubdtype(src, np.floating) and np.issubdtype(dst, np.integer))
    return True
