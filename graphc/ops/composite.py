"""Composite ops: one node while a graph is built, a primitive subgraph when compiled.

A composite op (``linear``, ``cross_entropy``, ``layer_norm``, an optimizer update) is
declared with a *builder*: a function of the input nodes and the attributes that builds
the op's primitive expansion (the front end's Tensor code, ``graphc.functional.composite``).
The builder runs only while a graph is being built — at the op's shape inference, once
per (input types, attributes) — and what it builds over placeholders is recorded here as
a *template*: each node as ``(op, attrs, type, input refs)``. From then on everything is
data: the expansion of a node instantiates its template over the node's inputs (the
``lower`` pass does this after a Program-cache miss, so a cache hit never builds it), the
reference evaluates the template with the primitives' references, and the gradient is
the VJP of the expansion. Nothing here calls back into the front end.

>>> import numpy as np
>>> from graphc.ir import buffer_node
>>> from graphc.ops import apply
>>> op = register_composite("example_double", lambda xs, attrs: apply("add", [xs[0], xs[0]]))
>>> x = buffer_node(np.array([1., 2.], np.float32), "cpux")
>>> node = apply("example_double", [x])
>>> [n.op for n in [expansion(node)]], op.reference([x.data], node.attrs).tolist()
(['add'], [2.0, 4.0])
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from ..ir import Attrs, Node, OpError, TensorType, make_node, topo_order
from ..ir.node import placeholder_node
from .registry import OPS, OpDef, register

Builder = Callable[[list[Node], Attrs], Node]

_builders: dict[str, Builder] = {}
# (op name, input types, attrs items) → (steps, output ref). A step is ("in", k) for the
# k-th input, ("leaf", node) for a leaf the builder made (a constant), or
# (op, attrs, type, input refs); a ref indexes the steps.
_templates: dict[tuple, tuple[tuple, int]] = {}
# The same templates by (op name, input shapes and dtypes, attrs items): the reference
# sees arrays, not devices.
_by_signature: dict[tuple, tuple[tuple, int]] = {}
_lock = threading.Lock()
# composite node → its expansion, while the node lives (differentiating, explaining and
# compiling a step see the same nodes without instantiating the template again).
_expanded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def register_composite(name: str, build: Builder) -> OpDef:
    """Declare the composite op ``name`` whose expansion ``build(inputs, attrs)`` makes.

    Declaring a name again (a reloaded module) replaces the builder; templates already
    recorded stay (they are what the same code built).
    """
    known = name in _builders
    _builders[name] = build
    if known:
        return OPS[name]

    def infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
        holes = [placeholder_node(t.shape, t.dtype, t.device, f"in{k}")
                 for k, t in enumerate(types)]
        out = _builders[name](holes, attrs)
        template = _record(holes, out)
        with _lock:
            _templates[(name, tuple(types), attrs._items)] = template
            _by_signature[(name, _signature(types), attrs._items)] = template
        return out.type

    def reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
        signature = tuple((np.shape(x), np.asarray(x).dtype) for x in xs)
        found = _by_signature.get((name, signature, attrs._items))
        if found is None:
            types = tuple(TensorType(shape, dtype, "cpux") for shape, dtype in signature)
            found = _template(name, types, attrs)
        steps, out = found
        values: list = []
        for step in steps:
            if step[0] == "in":
                values.append(xs[step[1]])
            elif step[0] == "leaf":
                values.append(step[1].buffer)
            else:
                op, step_attrs, t, refs = step
                try:
                    value = OPS[op].reference([values[r] for r in refs], step_attrs)
                except OpError as err:  # the caller adds the composite's name and line
                    raise OpError(f"{op}: {err}") from None
                values.append(np.asarray(value).astype(t.dtype, copy=False))
        return values[out]

    def vjp(node: Node, g: Node, needs: Sequence[bool]) -> tuple[Node | None, ...]:
        from .vjp import vjp_through

        return vjp_through(node, expansion(node), g, needs)

    op = register(name, "opaque", infer, reference)
    op.composite = True
    op.vjp, op.vjp_needs = vjp, True
    return op


def _record(holes: list[Node], out: Node) -> tuple[tuple, int]:
    """The template of what was built from ``holes`` up to ``out``."""
    hole_at = {h.uid: k for k, h in enumerate(holes)}
    ref: dict[int, int] = {}
    steps: list[tuple] = []
    for node in topo_order([out], stop=lambda n: not n.inputs):
        ref[node.uid] = len(steps)
        if node.uid in hole_at:
            steps.append(("in", hole_at[node.uid]))
        elif not node.inputs:
            steps.append(("leaf", node))
        else:
            steps.append((node.op, node.attrs, node.type,
                          tuple(ref[i.uid] for i in node.inputs)))
    return tuple(steps), ref[out.uid]


def _signature(types: Sequence[TensorType]) -> tuple:
    return tuple((t.shape, t.dtype) for t in types)


def _template(name: str, types: tuple, attrs: Attrs) -> tuple[tuple, int]:
    found = _templates.get((name, types, attrs._items))
    if found is None:  # built by a path that skipped inference (never, through apply)
        OPS[name].infer(types, attrs)
        found = _templates[(name, types, attrs._items)]
    return found


def expansion(node: Node) -> Node:
    """The primitive subgraph the composite ``node`` stands for, over its inputs (its
    new nodes carry the composite node's line, module scope and autodiff mark)."""
    done = _expanded.get(node)
    if done is not None:
        return done
    types = tuple(i.type for i in node.inputs)
    steps, out = _template(node.op, types, node.attrs)
    meta = node.meta
    built: list[Node] = []
    for step in steps:
        if step[0] == "in":
            built.append(node.inputs[step[1]])
        elif step[0] == "leaf":
            built.append(step[1])
        else:
            op, attrs, t, refs = step
            built.append(make_node(op, tuple([built[r] for r in refs]), attrs, t, meta=meta))
    done = built[out]
    _expanded[node] = done
    return done
