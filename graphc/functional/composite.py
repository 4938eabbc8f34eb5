"""Composite ops: a function of primitive ops that builds one node, expanded at compile time.

A training step rebuilds its graph in Python on every step, and each node costs
microseconds: a cross entropy is some twenty primitive nodes, a linear layer four. A
composite op is such a function declared once with :func:`composite`; calling it builds
a single node (``cross_entropy``, ``linear``), and the ``lower`` pass replaces that node
by the function's primitive expansion when the step compiles — once per structure, not
once per step. Fusion, memory planning and kernels see exactly the graph the function
would have built directly, so the compiled step is unchanged; only building it is
cheaper. MegEngine does the same with its ``subgraph`` ops.

Everything about the op comes from the function, in one place:

- inference: the function built over placeholders of the input types (once per
  signature, memoised with every other inference);
- reference: the reference interpreter run over the expansion;
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
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from .. import lazy
from ..ir import Attrs, Node, NodeMeta, OpError, TensorType, buffer_node, built_like
from ..ir import node as _node_module
from ..ir.node import placeholder_node
from ..ops import apply, register
from ..tensor import Tensor

__all__ = ["composite", "expansion"]

Fn = TypeVar("Fn", bound=Callable[..., Tensor])

_NOWHERE = NodeMeta(None, "", False)
_functions: dict[str, Callable[..., Tensor]] = {}  # op name → the function it expands to
# composite node → its expansion, while the node lives: explaining, differentiating and
# compiling a step see the same expansion nodes (the forward and its gradient share them).
_expanded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forget_expansions(nodes: list[Node]) -> None:
    """Realized nodes that forgot their inputs need no expansion either: it would keep
    those inputs (a parameter's old value) alive for as long as the node lives."""
    if _expanded:
        for node in nodes:
            _expanded.pop(node, None)


lazy.released_hooks.append(_forget_expansions)


class _hooks_off:
    """No build hook sees the throwaway nodes of an inference build (a GradManager
    stamp, a trace's op list)."""

    def __enter__(self) -> None:
        self.saved = list(_node_module.build_hooks)
        _node_module.build_hooks.clear()

    def __exit__(self, *exc: object) -> None:
        _node_module.build_hooks[:] = self.saved


def _call(name: str, inputs: Sequence[Tensor | Node], attrs: Attrs) -> Tensor:
    fn = _functions[name]
    args = [Tensor._wrap(i) if isinstance(i, Node) else i for i in inputs]
    out = fn(*args, **dict(attrs.items_tuple()))
    if not isinstance(out, Tensor):
        raise TypeError(f"composite {name}: the function returned {type(out).__name__}, "
                        "not a Tensor")
    return out


def expansion(node: Node) -> Node:
    """The primitive subgraph a composite ``node`` stands for, over its inputs (built
    once per node, with the node's location and module scope)."""
    done = _expanded.get(node)
    if done is None:
        with built_like(node.meta):
            done = _call(node.op, node.inputs, node.attrs)._node
        _expanded[node] = done
    return done


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
        known = name in _functions
        _functions[name] = fn  # declaring a name again (a reloaded module) replaces it

        def infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
            holes = [placeholder_node(t.shape, t.dtype, t.device, f"in{k}")
                     for k, t in enumerate(types)]
            with _hooks_off():
                return _call(name, holes, attrs)._node.type

        def reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
            from ..interp import run

            # Built with no location of its own: an error names the inner op, and the
            # interpreter adds the composite node's line.
            with _hooks_off(), built_like(_NOWHERE):
                out = _call(name, [buffer_node(np.asarray(x), "cpux") for x in xs], attrs)
            try:
                return run([out._node])[out._node.uid]
            except OpError as err:
                raise OpError(str(err).removesuffix(" (<graphc>)")) from None

        def vjp(node: Node, g: Node, needs: Sequence[bool]) -> tuple[Node | None, ...]:
            from ..autodiff import vjp_graph

            wanted, seen = [], set()
            for i, need in zip(node.inputs, needs):  # a repeated input gets it once
                wanted.append(need and i.uid not in seen)
                seen.add(i.uid)
            xs = [i for i, w in zip(node.inputs, wanted) if w]
            grads = iter(vjp_graph([expansion(node)], [g], xs, xs_are_leaves=True))
            return tuple(next(grads) if w else None for w in wanted)

        if not known:
            op = register(name, "opaque", infer, reference)
            op.lower = lambda nodes: {n.uid: expansion(n) for n in nodes}
            op.vjp, op.vjp_needs = vjp, True

        @functools.wraps(fn)
        def build(*tensors: Tensor, **static: Any) -> Tensor:
            return Tensor._wrap(apply(name, [t._node for t in tensors], **static))

        build.expand = fn  # type: ignore[attr-defined]
        return build  # type: ignore[return-value]

    return declare

