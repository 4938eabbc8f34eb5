"""Composite ops: a function of primitive ops that builds one node, expanded at compile time.

A training step rebuilds its graph in Python on every step, and each node costs
microseconds: a cross entropy is some twenty primitive nodes, a linear layer four. A
composite op is such a function declared once with :func:`composite`; calling it builds
a single node (``cross_entropy``, ``linear``), and the ``lower`` pass replaces that node
by the function's primitive expansion when the step compiles — once per structure, not
once per step. The function itself runs only at the op's shape inference (once per
input types and attributes), over placeholders; what it builds is recorded as a
template (:mod:`graphc.ops.composite`), so compiling, evaluating and differentiating the
op never call back into this module. Fusion, memory planning and kernels see exactly
the graph the function would have built directly, so the compiled step is unchanged;
only building it is cheaper. MegEngine does the same with its ``subgraph`` ops.

Everything about the op comes from the function, in one place:

- inference: the function built over placeholders of the input types (once per
  signature, memoised with every other inference), recorded as the template;
- reference: the primitives' references evaluated over the template;
- gradient: the VJP of the expansion with respect to the inputs (so second order works);
- fusion: none of its own; it is lowered before fusion.

The function must build its result from its Tensor arguments with graphc ops only
(no ``.numpy()``, no value-dependent Python); keyword arguments are static attributes,
part of the structural key, and must be JSON values (numbers, strings, bools, tuples).

>>> import graphc
>>> @composite("example_axpy")
... def axpy(x, y, *, a):
...     return x * a + y
>>> x, y = graphc.tensor([1., 2.]), graphc.tensor([10., 20.])
>>> z = axpy(x, y, a=3.0)
>>> z._node.op
'example_axpy'
>>> graphc.grad(z.sum(), x).numpy().tolist()
[3.0, 3.0]
>>> z.numpy().tolist()
[13.0, 26.0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..ir import Attrs, Node
from ..ir.state import current
from ..ops import apply, expansion, register_composite
from ..tensor import Tensor

__all__ = ["composite", "expansion"]

Fn = TypeVar("Fn", bound=Callable[..., Tensor])


class _hooks_off:
    """Neither a recording GradManager nor a trace sees the nodes of an inference build:
    they are a template, not part of the user's graph."""

    def __enter__(self) -> None:
        st = current()
        self.saved = st.stamps, st.trace_ops
        st.stamps, st.trace_ops = [], None

    def __exit__(self, *exc: object) -> None:
        st = current()
        st.stamps, st.trace_ops = self.saved


def _builder(name: str, fn: Callable[..., Tensor]) -> Callable[[Sequence[Node], Attrs], Node]:
    """``fn`` as a builder of nodes (what graphc.ops.composite records as a template)."""

    def build(inputs: Sequence[Node], attrs: Attrs) -> Node:
        with _hooks_off():
            out = fn(*[Tensor._wrap(i) for i in inputs], **dict(attrs.items_tuple()))
        if not isinstance(out, Tensor):
            raise TypeError(f"composite {name}: the function returned {type(out).__name__}, "
                            "not a Tensor")
        return out._node

    return build


def composite(name: str) -> Callable[[Fn], Fn]:
    """Declare ``fn(*tensors, **static) -> Tensor`` as the composite op ``name``.

    Calling the returned function builds one ``name`` node over the tensors, with the
    keyword arguments as its attributes; ``.expand`` is ``fn`` itself (the primitives).
    See the module docstring for what ``fn`` may do.

    >>> import graphc
    >>> @composite("example_scaled_sum")
    ... def scaled_sum(x, *, scale):
    ...     return (x * scale).sum()
    >>> scaled_sum(graphc.tensor([1., 2.]), scale=2.0).item()
    6.0
    """

    def declare(fn: Fn) -> Fn:
        register_composite(name, _builder(name, fn))

        @functools.wraps(fn)
        def build(*tensors: Tensor, **static: Any) -> Tensor:
            n = len(tensors)  # (spelled out for one to three: a comprehension costs a frame)
            nodes = (tensors[0]._node,) if n == 1 else \
                (tensors[0]._node, tensors[1]._node) if n == 2 else \
                (tensors[0]._node, tensors[1]._node, tensors[2]._node) if n == 3 else \
                tuple([t._node for t in tensors])
            return Tensor._wrap(apply(name, nodes, **static))

        build.expand = fn  # type: ignore[attr-defined]
        return build  # type: ignore[return-value]

    return declare
