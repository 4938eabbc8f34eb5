"""State a compiled function reads and writes: Tensors bound, not copied.

A :class:`StateRef` names one mutable value outside the function: a Tensor's data
(:class:`DataRef`) or a Parameter's ``.grad`` (:class:`GradRef`). Each call reads the
value it holds *now* (so training outside the function is seen inside it) and writes the
function's new value back through :func:`graphc.lazy.rebind` / ``set_grad``, the doors
every mutation uses.

:func:`find_owners` finds, for the buffers a graph reads, the live Tensors holding them
(parameters reached through modules, closures or globals), with one scan of the garbage
collector's referrers.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable

import numpy as np

from .. import lazy
from ..ir import EMPTY_ATTRS, Node, NodeMeta, TensorType
from ..tensor import Parameter, Tensor

# Leaves made for values a compiled function returns or writes: built without looking up
# the user's frame (the per-call path), and marked as made by graphc.
_META = NodeMeta("<compiled function>", "", False)


def buffer_leaf(array: np.ndarray, type: TensorType) -> Node:
    """A realized leaf holding ``array`` (of ``type``), made cheaply."""
    return Node("buffer", (), EMPTY_ATTRS, type, data=array, meta=_META)


class StateRef:
    """A mutable value outside a compiled function."""

    __slots__ = ("tensor", "fallback", "name")

    def __init__(self, tensor: Tensor, name: str = "") -> None:
        self.tensor = tensor  # held: a function keeps the state it updates alive
        self.fallback: Node | None = None  # the value it held when the function was made
        self.name = name or tensor.name or ""

    def ref(self) -> Tensor:
        return self.tensor

    def node(self) -> Node | None:
        raise NotImplementedError

    def read(self, type: TensorType) -> np.ndarray:
        """The current value; :class:`StateChanged` when it no longer has ``type``."""
        node = self.node()
        if node is None:
            raise StateChanged(f"{self} is None")
        if node.type != type:
            raise StateChanged(f"{self} now has type {node.type}, traced as {type}")
        if node.buffer is None:
            lazy.realize([node])
            node = self.node()  # (its Tensor now holds a leaf of the value)
        return node.buffer

    def write(self, value: np.ndarray | None, type: TensorType) -> None:
        raise NotImplementedError

    def same(self, other: StateRef) -> bool:
        return type(self) is type(other) and self.tensor is other.tensor


class DataRef(StateRef):
    """A Tensor's value (a parameter, a buffer, an optimizer state)."""

    __slots__ = ()

    def node(self) -> Node | None:
        return self.tensor._node

    def write(self, value: np.ndarray | None, type: TensorType) -> None:
        lazy.rebind(self.tensor, buffer_leaf(value, type))

    def __repr__(self) -> str:
        return f"tensor {self.name!r}" if self.name else "a tensor"


class GradRef(StateRef):
    """A tensor's ``.grad`` (None is a value too: it is part of the call's guard)."""

    __slots__ = ()

    def node(self) -> Node | None:
        g = self.tensor._grad
        return None if g is None else g._node

    def write(self, value: np.ndarray | None, type: TensorType) -> None:
        grad = None if value is None else Tensor._wrap(buffer_leaf(value, type))
        lazy.set_grad(self.tensor, grad)

    def has_grad(self) -> bool:
        return self.tensor._grad is not None

    def __repr__(self) -> str:
        return f"the grad of {self.name!r}" if self.name else "a tensor's grad"



class HyperRef(StateRef):
    """A hyper-parameter scalar of an optimizer (``lr``, ``betas``...): each call reads its
    value from the parameter group as it is now (``value()``), so a scheduler's new
    learning rate is used without retracing. Never written."""

    __slots__ = ("value",)

    def __init__(self, tensor: Tensor, value: Callable[[], float]) -> None:
        super().__init__(tensor)
        self.value = value

    def node(self) -> Node:
        t = self.tensor._node.type
        return buffer_leaf(self.read(t), t)

    def read(self, type: TensorType) -> np.ndarray:
        return np.asarray(self.value(), dtype=type.dtype)

    def write(self, value: np.ndarray | None, type: TensorType) -> None:
        raise TypeError(f"{self} is read-only state")

    def __repr__(self) -> str:
        return "an optimizer hyper-parameter"

class StateChanged(Exception):
    """A bound state no longer matches what was traced (internal: jit retraces)."""


def find_owners(nodes: Iterable[Node]) -> dict[int, StateRef]:
    """uid → the state holding each of ``nodes`` (or the same array) now, where a live
    Tensor does; a gradient Tensor is owned through its parameter's ``.grad``."""
    nodes = [n for n in nodes if n.buffer is not None]
    if not nodes:
        return {}
    by_array: dict[int, list[Node]] = {}
    for n in nodes:
        by_array.setdefault(id(n.buffer), []).append(n)
    # Nodes holding the same arrays (a detached or re-wrapped parameter reads its array).
    holders = [r for r in gc.get_referrers(*[n.buffer for n in nodes])
               if isinstance(r, Node) and r.buffer is not None and id(r.buffer) in by_array]
    tensors = [r for r in gc.get_referrers(*holders)
               if isinstance(r, Tensor) and id(r._node.buffer) in by_array]
    if not tensors:
        return {}
    grads = {id(r._grad): r for r in gc.get_referrers(*tensors)
             if isinstance(r, Tensor) and r._grad is not None}
    owners: dict[int, StateRef] = {}
    # Prefer parameters, then gradients, then any tensor, so a choice is stable.
    tensors.sort(key=lambda t: (not isinstance(t, Parameter), id(t) not in grads))
    for t in tensors:
        ref: StateRef = GradRef(grads[id(t)]) if id(t) in grads else DataRef(t)
        for n in by_array[id(t._node.buffer)]:
            if n.uid not in owners:
                ref.fallback = ref.fallback or n
                owners[n.uid] = ref
    return owners
