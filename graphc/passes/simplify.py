"""The ``simplify`` pass: algebraic identities that keep every value.

Every rewrite keeps the node's exact :class:`~graphc.ir.TensorType` and its value for
*all* inputs, NaN, ±Inf and -0.0 included, bit for bit; the one exception is
``pow(x, 2)`` → ``x * x``, whose result is correctly rounded where NumPy's ``power``
can be one ulp off.

Only *known* constants count (see
:func:`graphc.passes.fold_constants.is_known_constant`): 0, -0.0, ±1 and booleans are in
the structural key, and constants folded from them; a runtime-argument const such as a
learning rate of 0.01 never is (the next call of the same program may pass 0.02).
Constants are recognised through the movement ops and casts the front end wraps them
in (``broadcast_to(const 1, shape)``).

Rules (``c`` stands for a known constant, broadcast or not):

- ``x * 1``, ``1 * x``, ``x / 1``, ``pow(x, 1)`` → ``x``; ``pow(x, 2)`` → ``x * x``;
- ``x + (-0.0)``, ``x - (+0.0)`` → ``x`` on floats, ``x + 0``, ``x - 0`` on integers.
  ``x + 0.0`` is *kept* on floats: ``-0.0 + 0.0`` is ``+0.0``, not ``-0.0``;
  likewise ``x - (-0.0)``;
- ``x * 0`` → ``0`` and ``x - x`` → ``0`` on integers only (``inf * 0`` and
  ``inf - inf`` are NaN);
- ``neg(neg x)`` and ``logical_not(logical_not x)`` → ``x``;
- ``transpose(transpose x)`` → one transpose with the composed permutation, an identity
  permutation → ``x``; ``reshape(reshape x)`` → one reshape, a reshape to ``x``'s own
  shape → ``x``; ``broadcast_to(broadcast_to x)`` → one broadcast, a broadcast to ``x``'s
  own shape → ``x``; a slice that takes everything → ``x``; ``astype`` to ``x``'s own
  dtype → ``x``;
- ``where(c, x, x)`` → ``x``; ``where(True, x, y)`` → ``x``; ``where(False, x, y)`` → ``y``;
  ``x and True``, ``x or False`` → ``x``;
- ``detach(x)`` → ``x``: detach only stops gradients, and autodiff runs when
  ``backward()``/``grad`` is called, before anything is compiled.

``copy`` is never removed: it may be what gives a result its own buffer or device.
Folding these identities into fewer nodes never crosses a frontier node: a realized
node's data is an argument of the program and can differ on the next call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..ir import Graph, Node, const_node, is_frontier
from . import graph_pass
from .fold_constants import is_known_constant
from .rewrite import derive, rewrite

# Ops that move or replicate elements: a tensor built by them from a scalar holds that
# scalar everywhere.
_UNIFORM_MOVES = frozenset({"broadcast_to", "reshape", "transpose", "slice"})


def known_scalar(node: Node) -> bool | int | float | None:
    """The value every element of ``node`` has, when that is a known constant.

    >>> import numpy as np
    >>> from graphc.ir import const_node
    >>> from graphc.ops import apply
    >>> one = const_node(1, np.float32, "cpux")
    >>> known_scalar(apply("broadcast_to", [one], shape=(2, 2)))
    1.0
    >>> known_scalar(const_node(0.5, np.float32, "cpux")) is None  # a runtime argument
    True
    """
    casts: list[np.dtype] = []
    while node.op not in ("const", "scalar"):
        if is_frontier(node):
            return None
        if node.op == "astype":
            casts.append(node.type.dtype)
        elif node.op not in _UNIFORM_MOVES:
            return None
        node = node.inputs[0]
    if not is_known_constant(node):
        return None
    value = np.asarray(node.value, dtype=node.type.dtype)
    for dtype in reversed(casts):
        with np.errstate(all="ignore"):
            value = value.astype(dtype)
    return value.item()


def _is_float(node: Node) -> bool:
    return np.issubdtype(node.type.dtype, np.floating)


def _is_int(node: Node) -> bool:
    return np.issubdtype(node.type.dtype, np.integer)


def _is_value(node: Node, target: float) -> bool:
    v = known_scalar(node)
    return v is not None and not isinstance(v, bool) and v == target


def _is_signed_zero(node: Node, negative: bool) -> bool:
    v = known_scalar(node)
    return v is not None and v == 0 and (math.copysign(1.0, v) < 0) == negative


def _is_bool(node: Node, target: bool) -> bool:
    v = known_scalar(node)
    return isinstance(v, bool) and v is target


def _neutral_add_zero(x: Node, zero: Node) -> bool:
    """``x + zero == x`` exactly: any 0 for integers, only -0.0 for floats."""
    return _is_signed_zero(zero, negative=True) if _is_float(x) else (
        _is_int(x) and _is_value(zero, 0))


def _zero_like(node: Node) -> Node:
    # The in-key 0: baked into the program, never a runtime argument.
    zero = const_node(0, node.type.dtype, node.type.device)
    return zero if node.type.shape == () else derive("broadcast_to", [zero], node,
                                                     shape=node.type.shape)


def _mul(node: Node) -> Node | None:
    a, b = node.inputs
    if _is_value(b, 1):
        return a
    if _is_value(a, 1):
        return b
    if _is_int(node):  # x * 0 is NaN for x = inf or nan on floats
        if _is_value(b, 0):
            return b
        if _is_value(a, 0):
            return a
    return None


def _add(node: Node) -> Node | None:
    a, b = node.inputs
    if _neutral_add_zero(a, b):
        return a
    if _neutral_add_zero(b, a):
        return b
    return None


def _sub(node: Node) -> Node | None:
    a, b = node.inputs
    if _is_float(node):
        # x - (+0.0) == x + (-0.0) == x, but x - (-0.0) turns -0.0 into +0.0.
        return a if _is_signed_zero(b, negative=False) else None
    if _is_value(b, 0):
        return a
    if a is b:  # inf - inf is NaN, so integers only
        return _zero_like(node)
    return None


def _div(node: Node) -> Node | None:
    a, b = node.inputs
    return a if _is_value(b, 1) else None


def _pow(node: Node) -> Node | None:
    a, b = node.inputs
    if _is_value(b, 1):
        return a
    if _is_value(b, 2):
        return derive("mul", [a, a], node)
    return None


def _involution(node: Node) -> Node | None:
    (x,) = node.inputs
    if x.op == node.op and not is_frontier(x):
        return x.inputs[0]
    return None


def _transpose(node: Node) -> Node | None:
    (x,) = node.inputs
    perm = tuple(node.attrs["perm"])
    if x.op == "transpose" and not is_frontier(x):
        inner = x.attrs["perm"]
        return derive("transpose", [x.inputs[0]], node, perm=tuple(inner[p] for p in perm))
    return x if perm == tuple(range(len(perm))) else None


def _reshape(node: Node) -> Node | None:
    (x,) = node.inputs
    if x.op == "reshape" and not is_frontier(x):
        return derive("reshape", [x.inputs[0]], node, shape=node.type.shape)
    return x if x.type.shape == node.type.shape else None


def _broadcast_to(node: Node) -> Node | None:
    (x,) = node.inputs
    if x.op == "broadcast_to" and not is_frontier(x):
        return derive("broadcast_to", [x.inputs[0]], node, shape=node.type.shape)
    return x if x.type.shape == node.type.shape else None


def _slice(node: Node) -> Node | None:
    (x,) = node.inputs
    takes_all = x.type.shape == node.type.shape and all(s == 1 for s in node.attrs["steps"])
    return x if takes_all else None


def _astype(node: Node) -> Node | None:
    (x,) = node.inputs
    return x if x.type == node.type else None


def _detach(node: Node) -> Node | None:
    return node.inputs[0]


def _where(node: Node) -> Node | None:
    cond, a, b = node.inputs
    if a is b or _is_bool(cond, True):
        return a
    if _is_bool(cond, False):
        return b
    return None


def _logical_and(node: Node) -> Node | None:
    a, b = node.inputs
    return a if _is_bool(b, True) else b if _is_bool(a, True) else None


def _logical_or(node: Node) -> Node | None:
    a, b = node.inputs
    return a if _is_bool(b, False) else b if _is_bool(a, False) else None


RULES: dict[str, Callable[[Node], Node | None]] = {
    "mul": _mul,
    "add": _add,
    "sub": _sub,
    "div": _div,
    "pow": _pow,
    "neg": _involution,
    "logical_not": _involution,
    "transpose": _transpose,
    "reshape": _reshape,
    "broadcast_to": _broadcast_to,
    "slice": _slice,
    "astype": _astype,
    "detach": _detach,
    "where": _where,
    "logical_and": _logical_and,
    "logical_or": _logical_or,
}


def _rule(node: Node) -> Node | None:
    rule = RULES.get(node.op)
    if rule is None:
        return None
    replacement = rule(node)
    # Every rule above keeps the type by construction; this guards future ones.
    return replacement if replacement is None or replacement.type == node.type else None


@graph_pass("simplify")
def simplify(graph: Graph) -> Graph:
    """Apply the exact algebraic identities listed in the module docstring.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node, const_node
    >>> from graphc.ops import apply
    >>> x = buffer_node(np.ones((2, 3), np.float32), "cpux")
    >>> one = apply("broadcast_to", [const_node(1.0, np.float32, "cpux")], shape=(2, 3))
    >>> y = apply("exp", [apply("mul", [x, one])])
    >>> [n.op for n in simplify(Graph((y,))).pending()]
    ['exp']
    """
    return rewrite(graph, _rule, "simplify")
