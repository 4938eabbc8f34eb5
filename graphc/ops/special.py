"""Ops that only matter to automatic differentiation. The compiler erases them.

- ``identity(x)``: a fresh node for a tensor attached to a GradManager mid-recording,
  so only its uses from then on are differentiated with respect to it;
- ``custom_grad(out, *inputs)``: the output of a user ``autodiff.Function``; its value is
  ``out`` and its gradient comes from the Function's ``backward`` (the node's ``value``
  holds the Function object);
- ``grad_of(*ys, *dys, *xs; n_ys, x)``: the gradient of ``sum(ys * dys)`` with respect
  to ``xs[x]``, deferred: ``GradManager.backward`` builds one per attached tensor, and
  lowering (graphc.ops.lowering: the ``lower`` pass, the interpreter) replaces it with
  the VJP graph. A training step's key then holds the forward graph and these markers, not the
  whole backward graph, and the backward is built only when the step compiles.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Attrs, TensorType
from .registry import register


def _first(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    return types[0]


register("identity", "elementwise", _first, lambda xs, attrs: xs[0],
         "copy").autodiff_wrapper = True
register("custom_grad", "opaque", _first, lambda xs, attrs: xs[0]).autodiff_wrapper = True


def _grad_of_type(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    return types[2 * attrs["n_ys"] + attrs["x"]]


def _grad_of_reference(xs: Sequence, attrs: Attrs):
    raise AssertionError("grad_of is lowered to its VJP graph before evaluation")


register("grad_of", "opaque", _grad_of_type, _grad_of_reference).marker = True


from .registry import defvjp  # noqa: E402

defvjp("identity")(lambda node, g: (g,))
