"""What can be drawn: a Tensor, a list of Tensors, or a function with ``output_nodes``.

:func:`resolve` turns any of them into a :class:`Target`: the output nodes, which leaf
nodes are parameters (and their names), which are inputs, and a title. A compiled or
loaded define-then-run function (and :func:`graphc.viz.capture`'s record) is duck-typed:
an object with ``output_nodes`` (ir Nodes), optionally ``input_nodes`` (its
placeholders), ``output_names``, ``name``, ``parameter_names`` (``{uid: name}``) and
``variables`` (``{name: Tensor}``, a loaded function's weights).
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..ir import Node, user_location
from ..tensor import Parameter, Tensor


@dataclass
class Target:
    """The outputs to draw and what is known about their leaves."""

    outputs: list[Node]
    name: str = "graph"
    parameter_names: dict[int, str] = field(default_factory=dict)  # uid → name
    input_names: dict[int, str] = field(default_factory=dict)  # uid → input/output name
    is_function: bool = False  # buffer leaves of a function are its captured weights


def resolve(target: Any, names: Any = None) -> Target:
    """The :class:`Target` for ``target``; ``names`` (a Module or ``{name: Tensor}``) names
    parameters, which are otherwise found among the live ``Parameter`` objects.

    >>> import graphc
    >>> w = graphc.Parameter([1., 2.])
    >>> t = resolve(w * 2, names={"w": w})
    >>> [n.op for n in t.outputs], list(t.parameter_names.values())
    (['mul'], ['w'])
    """
    if isinstance(target, Tensor):
        outputs = [target._node]
        title = target.name or "tensor"
    elif isinstance(target, (list, tuple)):
        bad = [type(t).__name__ for t in target if not isinstance(t, Tensor)]
        if not target or bad:
            raise TypeError(f"graphc.viz.export: a list target must hold Tensors, got "
                            f"{bad or 'an empty list'} ({user_location()})")
        outputs = [t._node for t in target]
        title = "tensors"
    elif hasattr(target, "output_nodes"):
        outputs = list(target.output_nodes)
        if not outputs or not all(isinstance(n, Node) for n in outputs):
            raise TypeError(f"graphc.viz.export: {type(target).__name__}.output_nodes must be a "
                            f"non-empty list of graph nodes ({user_location()})")
        inputs = {n.uid: n.attrs.get("name", f"input{i}")
                  for i, n in enumerate(getattr(target, "input_nodes", None) or ())}
        params = dict(getattr(target, "parameter_names", None) or {})
        if not params:  # live Parameters, a loaded function's variables, a jit's state
            params = _live_parameters()
            params.update(_named(getattr(target, "variables", None)))
            params.update(_state_names(target, names))
        params.update(_named(names))
        output_names = list(getattr(target, "output_names", None) or ())
        inputs.update((n.uid, name) for n, name in zip(outputs, output_names)
                      if n.uid not in inputs)
        return Target(outputs, str(getattr(target, "name", None) or type(target).__name__),
                      params, inputs, is_function=hasattr(target, "input_nodes"))
    else:
        raise TypeError(f"graphc.viz.export: cannot draw a {type(target).__name__}; pass a "
                        f"Tensor, a list of Tensors or a compiled function ({user_location()})")
    params = _named(names) if names is not None else _live_parameters()
    return Target(outputs, title, params)


def _pairs(names: Any) -> list[tuple[str, Tensor]]:
    """``(name, Tensor)`` pairs of a Module's parameters and buffers or of a mapping."""
    if names is None:
        return []
    if hasattr(names, "named_parameters"):
        pairs = list(names.named_parameters()) + list(names.named_buffers())
    elif isinstance(names, Mapping):
        pairs = list(names.items())
    else:
        raise TypeError(f"graphc.viz.export: names= takes a Module or a mapping of names to "
                        f"Tensors, got {type(names).__name__} ({user_location()})")
    for name, t in pairs:
        if not isinstance(t, Tensor):
            raise TypeError(f"graphc.viz.export: names[{name!r}] is a {type(t).__name__}, "
                            f"not a Tensor ({user_location()})")
    return [(str(name), t) for name, t in pairs]


def _named(names: Any) -> dict[int, str]:
    return {t._node.uid: name for name, t in _pairs(names)}


def _state_names(target: Any, names: Any) -> dict[int, str]:
    """Names of the state a ``graphc.jit``/``graphc.function`` graph reads: its capture
    maps each buffer's uid to the state (a Tensor) it was read from. The graph keeps the
    buffer of trace time while the Tensor moved on, so ``names`` matches by Tensor."""
    fn = getattr(target, "compiled", target)  # a @graphc.jit function: its latest trace
    owners = getattr(getattr(fn, "capture", None), "owners", None)
    if not isinstance(owners, Mapping):
        return {}
    by_tensor = {id(t): name for name, t in _pairs(names)}
    out = {}
    for uid, ref in owners.items():
        t = getattr(ref, "tensor", None)
        out[uid] = by_tensor.get(id(t)) or getattr(ref, "name", "") or ""
    return out


def _live_parameters() -> dict[int, str]:
    """Every live Parameter's node (export is the cold path: a scan of gc's objects)."""
    # type() rather than isinstance: a weakref.proxy to a dead object raises on isinstance.
    return {o._node.uid: o.name for o in gc.get_objects()
            if issubclass(type(o), Parameter)}
