"""Ops that only matter to automatic differentiation. The compiler erases them.

- ``identity(x)``: a fresh node for a tensor attached to a GradManager mid-recording,
  so only its uses from then on are differentiated with respect to it;
- ``custom_grad(out, *inputs)``: the output of a user ``autodiff.Function``; its value is
  ``out`` and its gradient comes from the Function's ``backward`` (the node's ``value``
  holds the Function object).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Attrs, TensorType
from .registry import register


def _first(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    return types[0]


register("identity", "elementwise", _first, lambda xs, attrs: xs[0], "{0}")
register("custom_grad", "opaque", _first, lambda xs, attrs: xs[0])


from .registry import defvjp  # noqa: E402

defvjp("identity")(lambda node, g: (g,))
