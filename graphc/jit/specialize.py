"""Specialise a graph built over symbolic dimensions to the concrete sizes of a call.

A graph over ``placeholder((None, 784))`` is built with a probe size (a large prime) in
place of ``None``. :func:`specialize` rebuilds it with each probe replaced by the size
bound at call time: placeholder types, integer attributes (reshape targets, broadcast
shapes, slice bounds: multiples of the probe are scaled) and runtime scalars derived
from the size (a mean's ``1/n``) all follow, and every op re-infers its type. A node
whose type does not follow (the size was used as a Python number, e.g. ``x[-1]`` on the
batch axis) is an error that names it, found once by :func:`check_generic`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..ir import Node, const_node, make_node, placeholder_node, topo_order
from ..ops import apply
from .errors import TraceError

Binding = dict[int, int]  # probe size → concrete size


def _subst_int(v: int, binding: Binding) -> int:
    if v == 0 or isinstance(v, bool):
        return v
    rest, scale = abs(v), 1
    for probe, size in binding.items():
        while rest % probe == 0:
            rest //= probe
            scale *= size
    return v if scale == 1 and rest == abs(v) else (rest * scale if v > 0 else -rest * scale)


def _subst_attr(value: object, binding: Binding) -> object:
    if isinstance(value, tuple):
        return tuple(_subst_attr(v, binding) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _subst_int(value, binding)
    return value


def _subst_scalar(value: object, dtype: np.dtype, binding: Binding) -> object:
    """A runtime scalar made from a probe size (``n``, ``k*n`` or ``1/(k*n)``) follows it."""
    if isinstance(value, bool) or value == 0 or not math.isfinite(value):
        return value
    if isinstance(value, int):
        return _subst_int(value, binding)
    cast = dtype.type
    for probe, size in binding.items():
        k = round(value / probe)
        if k and cast(k * probe) == cast(value):
            return float(k * size)
        k = round(1.0 / (value * probe))
        if k and cast(1.0 / (k * probe)) == cast(value):
            return 1.0 / (k * size)
    return value


def subst_shape(shape: tuple[int, ...], binding: Binding) -> tuple[int, ...]:
    return tuple(_subst_int(d, binding) for d in shape)


def specialize(outputs: Sequence[Node], binding: Binding,
               inputs: dict[int, Node] | None = None) -> tuple[list[Node], dict[int, Node]]:
    """The graph of ``outputs`` rebuilt for ``binding``; returns the new outputs and a map
    from old node uid to new node. TraceError names the first node that does not follow.
    ``inputs`` maps a placeholder's uid to the node that replaces it (a call's values).

    >>> import graphc
    >>> x = graphc.placeholder((None, 2))
    >>> y = x.sum(axis=1).mean()
    >>> probe = x.shape[0]
    >>> (new,), _ = specialize([y._node], {probe: 3})
    >>> new.inputs[0].type.shape, new.inputs[1].value
    ((), 3.0)
    """
    mapping: dict[int, Node] = {}
    for node in topo_order(outputs):
        if inputs and node.uid in inputs:
            mapping[node.uid] = inputs[node.uid]
        else:
            mapping[node.uid] = _rebuild(node, mapping, binding)
    return [mapping[o.uid] for o in outputs], mapping


def _rebuild(node: Node, mapping: dict[int, Node], binding: Binding) -> Node:
    want = subst_shape(node.type.shape, binding)
    if node.op == "placeholder":
        return placeholder_node(want, node.type.dtype, node.type.device, node.attrs["name"])
    if node.op in ("const", "scalar"):
        value = _subst_scalar(node.value, node.type.dtype, binding)
        return node if value == node.value else const_node(value, node.type.dtype,
                                                           node.type.device)
    if node.buffer is not None or not node.inputs:
        if want != node.type.shape:
            raise _not_generic(node, want, node.type.shape)
        return node
    inputs = tuple(mapping[i.uid] for i in node.inputs)
    if node.op == "custom_grad":
        return make_node(node.op, inputs, node.attrs, node.type.with_shape(want),
                         value=node.value)
    attrs = {k: _subst_attr(v, binding) for k, v in node.attrs.items()}
    try:
        new = apply(node.op, inputs, **attrs)
    except (ValueError, TypeError) as err:
        raise TraceError(f"{node.op} built at {node.meta.location} does not follow a None "
                         f"(symbolic) dimension: {err}. {_HINT}") from None
    if new.type.shape != want:
        raise _not_generic(node, want, new.type.shape)
    return new


def _not_generic(node: Node, want: tuple, got: tuple) -> TraceError:
    return TraceError(
        f"{node.op} of shape {node.type.shape} built at {node.meta.location} does not follow "
        f"a None (symbolic) dimension: it would have shape {got} where {want} was expected. "
        f"{_HINT}")


_HINT = ("The graph used the dimension's size as a Python number (an index such as x[-1], "
         "or arithmetic on x.shape). Give the placeholder a concrete shape, or trace the "
         "code with @graphc.jit, which retraces for each new shape.")


def check_generic(outputs: Sequence[Node], probes: Sequence[int]) -> None:
    """Specialise once to small sizes, so that a graph that cannot follow its symbolic
    dimensions fails when the function is made, not on some later call."""
    if probes:
        specialize(outputs, {p: 5 + i for i, p in enumerate(probes)})
