"""Elementwise functions: arithmetic, math, comparisons and logic, with broadcasting.

>>> import graphc, graphc.functional as F
>>> F.add(graphc.tensor([1, 2]), 0.5).numpy()
array([1.5, 2.5], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from ..ir import GraphcError, user_location
from ..ops import apply, broadcast_shapes
from ..tensor import Tensor
from ._operands import broadcast_node, operands, reraise, wrap


def _binary(op: str, domain: str = "numeric"):
    def fn(x: Any, y: Any) -> Tensor:
        return wrap(apply(op, operands(op, [x, y], domain)))

    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` of ``x`` and ``y`` with NumPy broadcasting."
    return fn


def _unary(op: str, domain: str = "float"):
    def fn(x: Any) -> Tensor:
        return wrap(apply(op, operands(op, [x], domain)))

    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` of ``x``."
    return fn


add = _binary("add")
sub = _binary("sub")
mul = _binary("mul")
div = _binary("div", "float")
floor_div = _binary("floor_div")
mod = _binary("mod")
pow = _binary("pow")
maximum = _binary("maximum", "any")
minimum = _binary("minimum", "any")
equal = _binary("equal", "any")
not_equal = _binary("not_equal", "any")
less = _binary("less", "any")
less_equal = _binary("less_equal", "any")
greater = _binary("greater", "any")
greater_equal = _binary("greater_equal", "any")
logical_and = _binary("logical_and", "bool")
logical_or = _binary("logical_or", "bool")
logical_xor = _binary("logical_xor", "bool")
logical_not = _unary("logical_not", "bool")

neg = _unary("neg", "numeric")
abs = _unary("abs", "numeric")
sign = _unary("sign", "numeric")
exp = _unary("exp")
expm1 = _unary("expm1")
log = _unary("log")
log1p = _unary("log1p")
sqrt = _unary("sqrt")
sin = _unary("sin")
cos = _unary("cos")
tan = _unary("tan")
tanh = _unary("tanh")
erf = _unary("erf")
floor = _unary("floor")
ceil = _unary("ceil")
round = _unary("round")
isnan = _unary("isnan")
isinf = _unary("isinf")


def square(x: Any) -> Tensor:
    """``x * x``.

    >>> import graphc; square(graphc.tensor([3.])).numpy()
    array([9.], dtype=float32)
    """
    (n,) = operands("square", [x], "numeric")
    return wrap(apply("mul", [n, n]))


def where(mask: Any, x: Any, y: Any) -> Tensor:
    """``x`` where ``mask`` is true, else ``y`` (all three broadcast together).

    >>> import graphc; where(graphc.tensor([True, False]), 1., 2.).numpy()
    array([1., 2.], dtype=float32)
    """
    cond = mask if isinstance(mask, Tensor) else Tensor(mask)
    if cond.dtype.kind != "b":
        raise TypeError(f"where: mask must be bool, got {cond.dtype.name} ({user_location()})")
    a, b = operands("where", [x, y], "any")
    try:
        shape = broadcast_shapes(cond.shape, a.type.shape)
    except GraphcError as err:
        reraise("where", err)
    nodes = [broadcast_node(n, shape) for n in (cond._node, a, b)]
    return wrap(apply("where", nodes))


def clip(x: Any, lower: Any = None, upper: Any = None) -> Tensor:
    """Clamp ``x`` into ``[lower, upper]`` (either bound may be None).

    >>> import graphc; clip(graphc.tensor([-2., 0.5, 3.]), 0, 1).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    out = Tensor._wrap(x._node) if isinstance(x, Tensor) else Tensor(x)  # never alias x
    if lower is not None:
        out = maximum(out, lower)
    if upper is not None:
        out = minimum(out, upper)
    return out


def sigmoid(x: Any) -> Tensor:
    """The logistic function, stable in both tails."""
    return wrap(apply("sigmoid", operands("sigmoid", [x], "float")))
