"""The graph node: immutable, hash-consed, one output each.

A node is ``op`` applied to ``inputs`` with frozen ``attrs``, producing a value of
``type``. Building the same op on the same inputs with the same attrs returns the same
node (hash-consing), which makes common-subexpression elimination free.

Leaves are ``buffer`` (realized data), ``const`` (a scalar literal) and ``placeholder``
(an input of a define-then-run function).

A node never changes after it is built: its ``op``, ``inputs``, ``attrs`` and ``type`` are
fixed, and so is a leaf's data. The value a realization computes for an operator node is
kept in :mod:`graphc.ir.values` (a table keyed weakly by node), never in the node. Memory
is released by rebinding: a Tensor whose history is no longer needed is pointed at a
fresh ``buffer`` leaf holding its value, and the old graph is freed by reference counting.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .state import _local
from .types import EMPTY_ATTRS, Attrs, TensorType
from .values import _values

LEAF_OPS = frozenset({"buffer", "const", "scalar", "placeholder"})
# Scalar leaves: ``const`` (a value in the structural key: 0 and ±1, which simplification
# rewrites, and what passes fold) and ``scalar`` (a runtime argument keyed by its dtype
# alone: learning rates, step counts, bias corrections). const_node picks the kind.
SCALAR_OPS = frozenset({"const", "scalar"})

_GRAPHC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_uids = itertools.count(1)
# Hash-consing table: key → weakref to the node. Plain refs without callbacks cost a
# fraction of a WeakValueDictionary entry on the per-step hot path; dead entries are
# swept when the table doubles (see _remember).
_consed: dict[tuple, weakref.ref] = {}
_sweep_at = [1 << 16]
_consed_lock = threading.Lock()  # the sweep iterates the table; threads insert meanwhile


def _lookup(key: tuple) -> Node | None:
    ref = _consed.get(key)
    return ref() if ref is not None else None


def _remember(key: tuple, node: Node) -> None:
    _consed[key] = weakref.ref(node)
    if len(_consed) > _sweep_at[0]:
        with _consed_lock:
            # dict.copy() copies in C, no allocation per item; list(d.items()) allocates a
            # tuple per item, which may run the garbage collector and its weakref
            # callbacks, and so another thread inserting: "dictionary changed size".
            for k in [k for k, r in _consed.copy().items() if r() is None]:
                _consed.pop(k, None)
            _sweep_at[0] = max(1 << 16, 2 * len(_consed))

# Node metadata comes from the calling thread's execution state (graphc.ir.state): its
# module scopes (filled by Module.__call__), its autodiff nesting, and a user location
# shared by every node built inside a `pinned_location` block (code that builds many
# nodes for one user line, backward or optimizer steps, finds it once).


class NodeMeta:
    """Metadata outside the structural key: where and how the node was built.

    ``location`` is the user's ``file:line``; it is formatted on first use, because
    building nodes is the per-step hot path and most locations are never shown.
    """

    __slots__ = ("_where", "scope", "from_autodiff", "released_op")

    def __init__(self, location: str | tuple[str, int] | None, scope: str,
                 from_autodiff: bool, released_op: str | None = None) -> None:
        self._where = location
        self.scope = scope
        self.from_autodiff = from_autodiff
        # On a leaf made by releasing a computed node (its Tensor was rebound to the
        # value): that node's op, for the error of a gradient that cannot reach through.
        self.released_op = released_op

    @property
    def location(self) -> str:
        where = self._where
        if isinstance(where, tuple):
            where = self._where = f"{os.path.basename(where[0])}:{where[1]}"
        return where or "<graphc>"

    def __repr__(self) -> str:
        return f"NodeMeta({self.location!r}, scope={self.scope!r}, autodiff={self.from_autodiff})"


class Node:
    """One operation in the graph. Build nodes with :func:`make_node` or the leaf helpers.

    Nothing of a node changes after it is built (no module assigns its fields outside
    ``__init__``; a test scans for it), so a node shared by hash-consing, by two Tensors
    or by two threads is the same value for all.

    >>> from graphc.ir import buffer_node
    >>> n = buffer_node(np.ones(3, np.float32), "cpux")
    >>> n.op, n.type.shape
    ('buffer', (3,))
    """

    __slots__ = ("op", "inputs", "attrs", "type", "uid", "value", "data", "_meta", "depth",
                 "__weakref__")

    op: str
    inputs: tuple[Node, ...]
    attrs: Attrs
    type: TensorType
    uid: int
    value: Any
    data: Any
    depth: int

    def __init__(self, op: str, inputs: tuple[Node, ...], attrs: Attrs, type: TensorType,
                 value: Any = None, data: Any = None, meta: NodeMeta | tuple | None = None
                 ) -> None:
        # Fields are assigned here and nowhere else (tests/ir/test_node.py scans graphc
        # for assignments to them). A __setattr__ that refuses would enforce it at run
        # time, but it makes every node about 7x slower to build: the per-step hot path.
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.type = type
        self.uid = next(_uids)
        self.value = value  # a scalar leaf's Python number, or an op's payload
        self.data = data  # a leaf's array (buffer and scalar leaves)
        # The metadata's fields, made a NodeMeta on first read (most never are).
        if meta is None:
            st = _local.state
            pinned, scopes = st.pinned, st.scopes
            meta = (pinned[-1] if pinned else _user_frame(), scopes[-1] if scopes else "",
                    st.autodiff_depth > 0)
        self._meta = meta
        # Longest chain of pending (unrealized) nodes ending here, counted when the node
        # is built; bounds pending graphs.
        depth = 0
        for i in inputs:
            if i.inputs and i.depth > depth and i.uid not in _values:
                depth = i.depth
        self.depth = depth + 1 if inputs else 0

    @property
    def meta(self) -> NodeMeta:
        """Where and how this node was built (outside the structural key)."""
        meta = self._meta
        if type(meta) is tuple:
            meta = self._meta = NodeMeta(*meta)  # the same metadata, formatted once
        return meta

    @property
    def is_leaf(self) -> bool:
        return self.op in LEAF_OPS

    @property
    def buffer(self) -> Any:
        """The node's value if it has one: a leaf's data, or what a realization computed
        for an operator node (from the runtime's table); else None."""
        return self.data if not self.inputs else _values.get(self.uid)

    @property
    def realized(self) -> bool:
        return self.buffer is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.type.dtype

    def __repr__(self) -> str:
        args = ", ".join(f"%{i.uid}" for i in self.inputs)
        extra = f" {self.attrs!r}" if len(self.attrs) else ""
        if self.op in SCALAR_OPS:
            extra = f" {self.value!r}"
        return f"%{self.uid} = {self.op}({args}){extra} : {self.type}"


_inside_graphc: dict = {}  # code object → whether it belongs to the graphc package


def _user_frame() -> tuple[str, int] | None:
    """(file, line) of the innermost frame outside the graphc package."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        inside = _inside_graphc.get(code)
        if inside is None:
            inside = _inside_graphc[code] = code.co_filename.startswith(_GRAPHC_DIR)
        if not inside:
            return code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


def user_location() -> str:
    """file:line of the innermost frame outside the graphc package."""
    where = _user_frame()
    return f"{os.path.basename(where[0])}:{where[1]}" if where else "<graphc>"


def make_node(op: str, inputs: tuple[Node, ...], attrs: Attrs, type: TensorType,
              meta: NodeMeta | None = None, value: Any = None) -> Node:
    """Return the node ``op(inputs; attrs)``, reusing an existing identical node.

    ``meta`` carries metadata over when a pass rebuilds a node (see :func:`rebuild`);
    ``value`` is the payload of a new node (only ops whose attrs make each node unique,
    as a custom Function call's do, have one).
    """
    n = len(inputs)
    uids = (inputs[0].uid,) if n == 1 else (inputs[0].uid, inputs[1].uid) if n == 2 else \
        tuple([i.uid for i in inputs])
    key = (op, uids, attrs._items, type)  # the items hash in C, Attrs in Python
    ref = _consed.get(key)
    node = ref() if ref is not None else None
    st = _local.state
    if node is None:
        if meta is None:  # (Node would read the state again for it: a hot path)
            pinned, scopes = st.pinned, st.scopes
            meta = (pinned[-1] if pinned else _user_frame(), scopes[-1] if scopes else "",
                    st.autodiff_depth > 0)
        node = Node(op, inputs, attrs, type, value=value, meta=meta)
        _remember(key, node)
    if st.stamps:  # recording GradManagers differentiate through what is built now
        uid = node.uid
        for recorded in st.stamps:
            recorded.add(uid)
    if st.trace_ops is not None:
        st.trace_ops.append(node)
    return node


def rebuild(node: Node, inputs: tuple[Node, ...]) -> Node:
    """``node`` with new inputs of the same types, keeping its metadata (for passes)."""
    if inputs == node.inputs:
        return node
    for old, new in zip(node.inputs, inputs):
        if old.type != new.type:
            raise TypeError(f"rebuild of {node.op}: input type {new.type} replaces {old.type}")
    return make_node(node.op, tuple(inputs), node.attrs, node.type, meta=node.meta,
                     value=node.value)


def buffer_node(data: np.ndarray, device: str, meta: NodeMeta | None = None) -> Node:
    """A leaf holding realized data. Never hash-consed: each buffer is its own value.
    ``meta``: where the value came from (a released node's line), else the caller's."""
    t = TensorType(tuple(data.shape), data.dtype, device)
    return Node("buffer", (), EMPTY_ATTRS, t, data=data, meta=meta)


def released_leaf(node: Node, data: Any) -> Node:
    """The leaf a Tensor holding the computed ``node`` is rebound to once its history is
    no longer needed: ``data`` (the node's value), with the node's line and scope and
    a note of what it was (so a gradient that cannot reach through can say why)."""
    meta = node._meta  # a tuple until first read: made into a NodeMeta only if read
    if type(meta) is tuple:
        meta = (*meta, node.op)
    else:
        meta = (meta._where, meta.scope, meta.from_autodiff, node.op)
    # Built field by field (a leaf needs none of __init__'s work): once per realized
    # Tensor per step, on the hot path.
    leaf = _new_node(Node)
    leaf.op, leaf.inputs, leaf.attrs, leaf.type = "buffer", (), EMPTY_ATTRS, node.type
    leaf.uid, leaf.value, leaf.data, leaf._meta, leaf.depth = next(_uids), None, data, meta, 0
    return leaf


_new_node = object.__new__


def const_node(value: bool | int | float, dtype: Any, device: str) -> Node:
    """A 0-d scalar literal: a ``const`` leaf (its value in the structural key) for 0 and
    ±1, a ``scalar`` leaf (a runtime argument) for every other value. This is the one
    place that rule is written.

    Key constants (0, ±1) are hash-consed. Every other value gets a fresh node: were
    equal runtime scalars merged, ``x*0.1 + x*0.1`` and ``x*0.1 + x*0.2`` would have
    different graph shapes and so different structural keys.

    >>> const_node(1.0, np.float32, "cpux").op, const_node(0.1, np.float32, "cpux").op
    ('const', 'scalar')
    """
    dtype = np.dtype(dtype)
    py = dtype.type(value).item()
    t = TensorType((), dtype, device)
    if not is_key_value(py):
        return Node("scalar", (), EMPTY_ATTRS, t, value=py, data=np.asarray(py, dtype=dtype))
    ident = py.hex() if isinstance(py, float) else py  # distinguishes -0.0 from 0.0
    key = (dtype, device, type(py), ident)  # (dtype.name is slow in NumPy 2)
    node = _key_constants.get(key)
    if node is None:
        node = Node("const", (), EMPTY_ATTRS, t, value=py, data=np.asarray(py, dtype=dtype))
        _key_constants[key] = node
    return node


# The key constants (0, ±1, -0.0) of each dtype and device, held for good: a handful of
# nodes that every step's graph uses (``ones_like`` in backward, ``relu``'s zero).
_key_constants: dict[tuple, Node] = {}


def placeholder_node(shape: tuple[int, ...], dtype: Any, device: str, name: str) -> Node:
    """An input slot of a define-then-run function; never hash-consed."""
    t = TensorType(tuple(shape), np.dtype(dtype), device)
    return Node("placeholder", (), Attrs(name=name), t)


def is_key_value(value: object) -> bool:
    """Whether a scalar value is one of the few that structural keys and kernel sources
    spell out (0, -0.0 and ±1: simplification rewrites them); any other is a runtime
    value.

    >>> is_key_value(-1.0), is_key_value(0.5), is_key_value(float("nan"))
    (True, False, False)
    """
    return value in (0, 1, -1) and value == value


def const_in_key(node: Node) -> bool:
    """Whether a scalar leaf's value belongs in structural keys (a ``const``)."""
    return node.op == "const"


class module_scope:
    """Context manager recording the module scope of nodes built inside it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        scopes = _local.state.scopes
        parent = scopes[-1] if scopes else ""
        scopes.append(f"{parent}.{self.name}" if parent and self.name else self.name or parent)

    def __exit__(self, *exc: object) -> None:
        _local.state.scopes.pop()


class pinned_location:
    """Context manager: nodes built inside record the user's line of entry, found once.

    >>> with pinned_location():
    ...     pass
    """

    def __enter__(self) -> None:
        pinned = _local.state.pinned
        pinned.append(pinned[-1] if pinned else _user_frame())

    def __exit__(self, *exc: object) -> None:
        _local.state.pinned.pop()


def pins_location(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for graphc functions that build several nodes and call no user code:
    the user's line is found once per call instead of once per node.

    >>> @pins_location
    ... def twice(x):
    ...     return x, x
    >>> twice(1)
    (1, 1)
    """

    @functools.wraps(fn)
    def pinned(*args: Any, **kwargs: Any) -> Any:
        stack = _local.state.pinned
        if stack:
            return fn(*args, **kwargs)
        stack.append(_user_frame())
        try:
            return fn(*args, **kwargs)
        finally:
            stack.pop()

    return pinned


class built_like:
    """Context manager: nodes built inside carry ``meta``'s location, module scope and
    autodiff mark, as if built where the node ``meta`` describes was (the expansion of a
    composite op, built when a step compiles, points at the user's line).

    >>> n = const_node(0.5, np.float32, "cpux")
    >>> with built_like(n.meta):
    ...     const_node(0.25, np.float32, "cpux").meta.location == n.meta.location
    True
    """

    def __init__(self, meta: NodeMeta) -> None:
        self.meta = meta

    def __enter__(self) -> None:
        st = _local.state
        st.pinned.append(self.meta._where)
        st.scopes.append(self.meta.scope)
        self.depth = st.autodiff_depth
        st.autodiff_depth = int(self.meta.from_autodiff)  # not the caller's: a gradient
        # being built reads the expansion of a forward node

    def __exit__(self, *exc: object) -> None:
        st = _local.state
        st.autodiff_depth = self.depth
        st.scopes.pop()
        st.pinned.pop()


class autodiff_marker(pinned_location):
    """Context manager: nodes built inside are marked as made by autodiff (and carry the
    user's line that asked for the gradient, or ``where``: the line a deferred gradient
    was asked for when it is built later).

    >>> with autodiff_marker():
    ...     pass
    """

    def __init__(self, where: Any = None) -> None:
        self.where = where

    def __enter__(self) -> None:
        st = _local.state
        st.autodiff_depth += 1
        if self.where is None:
            super().__enter__()
        else:
            st.pinned.append(self.where)

    def __exit__(self, *exc: object) -> None:
        _local.state.autodiff_depth -= 1
        super().__exit__()
