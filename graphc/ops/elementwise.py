"""Elementwise ops. Operands arrive with equal shapes and dtypes: the front end inserts
explicit ``broadcast_to`` and ``astype`` nodes, so fusion sees every index map and cast.

Each op names the scalar op it computes at every point (``scalar_op``: ``add``, ``exp``,
``where``, ``cast``, ...), which lowering puts in the kernel IR (graphc/ir/kernel_ir.py).
What a scalar op computes is the op's reference here; how a backend writes it is that
backend's table (the CPU's: graphc/codegen/cpu_ops.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, OpError, TensorType
from .registry import DTypeError, ShapeError, check_devices, is_float, register

BOOL = np.dtype(bool)


def _same_operands(types: Sequence[TensorType]) -> None:
    shapes = {t.shape for t in types}
    if len(shapes) > 1:
        raise ShapeError(f"operand shapes differ: {' vs '.join(str(t.shape) for t in types)}")
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        raise DTypeError(f"operand dtypes differ: {' vs '.join(t.dtype.name for t in types)}")
    check_devices(types)


def _infer(domain: str, result: str = "same"):
    """Inference for an elementwise op: ``domain`` is the accepted dtype kind."""

    def infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
        _same_operands(types)
        dtype = types[0].dtype
        if domain == "float" and not is_float(dtype):
            raise DTypeError(f"expects a floating-point operand, got {dtype.name}")
        if domain == "bool" and dtype != BOOL:
            raise DTypeError(f"expects bool operands, got {dtype.name}")
        if domain == "numeric" and dtype == BOOL:
            raise DTypeError("expects numeric operands, got bool")
        return types[0] if result == "same" else types[0].with_dtype(BOOL)

    return infer


def _np(fn):
    """Reference from a NumPy function of the operand arrays."""
    return lambda xs, attrs: fn(*xs)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def _power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(b.dtype, np.integer) and b.size and b.min() < 0:
        # NumPy raises a bare ValueError here; report it as bad data of this op.
        raise OpError(f"integer base to the negative integer power {b.min()}")
    out = np.power(a, b)
    if out.dtype.kind == "f" and out.size:
        # NumPy computes x ** 0.5 as sqrt(x) when the exponent is 0-d or repeats with a
        # zero stride, and sqrt(-0.0) is -0.0 and sqrt(-inf) NaN where pow gives +0.0 and
        # +inf (as with a full exponent array, and as the kernels compute it).
        half = b == 0.5
        if half.any():
            out = np.where(half & (a == 0), np.zeros((), out.dtype), out)
            out = np.where(half & (a == -np.inf), np.full((), np.inf, out.dtype), out)
    return out


def _maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # The first operand where it is larger or NaN, else the second, as the kernels compute
    # it (graphc/codegen/mathlib.py). Written out because NumPy's own loops disagree on
    # equal zeros: float32's maximum(-0.0, 0.0) gives the second, float16's the first.
    return np.where((a > b) | (a != a), a, b)


def _minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where((a < b) | (a != a), a, b)


def _relu(x: np.ndarray) -> np.ndarray:
    return _maximum(x, np.zeros((), x.dtype))  # relu(-0.0) is +0.0 in every dtype


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Stable in both tails: exp of a non-positive number only.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


_UNARY = {
    # name: (domain, reference); each computes the scalar op of its own name
    "neg": ("numeric", np.negative),
    "abs": ("numeric", np.abs),
    "exp": ("float", np.exp),
    "log": ("float", np.log),
    "log1p": ("float", np.log1p),
    "expm1": ("float", np.expm1),
    "sqrt": ("float", np.sqrt),
    "sin": ("float", np.sin),
    "cos": ("float", np.cos),
    "tan": ("float", np.tan),
    "tanh": ("float", np.tanh),
    "erf": ("float", _erf),
    "sigmoid": ("float", _sigmoid),
    "relu": ("numeric", _relu),
    "floor": ("float", np.floor),
    "ceil": ("float", np.ceil),
    "round": ("float", np.round),
    "sign": ("numeric", np.sign),
    "copy": ("any", np.copy),
}
for _name, (_domain, _fn) in _UNARY.items():
    register(_name, "elementwise", _infer(_domain), _np(_fn), _name,
             differentiable=_domain != "bool")

register("detach", "elementwise", _infer("any"), _np(np.copy), "copy", differentiable=False)

_BINARY = {
    "add": ("numeric", np.add),
    "sub": ("numeric", np.subtract),
    "mul": ("numeric", np.multiply),
    "div": ("float", np.true_divide),
    "floor_div": ("numeric", np.floor_divide),
    "mod": ("numeric", np.mod),
    "pow": ("numeric", _power),
    "maximum": ("any", _maximum),
    "minimum": ("any", _minimum),
}
for _name, (_domain, _fn) in _BINARY.items():
    register(_name, "elementwise", _infer(_domain), _np(_fn), _name)

_PREDICATES = {
    "equal": ("any", np.equal),
    "not_equal": ("any", np.not_equal),
    "less": ("any", np.less),
    "less_equal": ("any", np.less_equal),
    "greater": ("any", np.greater),
    "greater_equal": ("any", np.greater_equal),
    "logical_and": ("bool", np.logical_and),
    "logical_or": ("bool", np.logical_or),
    "logical_xor": ("bool", np.logical_xor),
    "logical_not": ("bool", np.logical_not),
    "isnan": ("float", np.isnan),
    "isinf": ("float", np.isinf),
}
for _name, (_domain, _fn) in _PREDICATES.items():
    register(_name, "elementwise", _infer(_domain, result="bool"), _np(_fn), _name,
             differentiable=False)


def _infer_where(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    cond, a, b = types
    if cond.dtype != BOOL:
        raise DTypeError(f"condition must be bool, got {cond.dtype.name}")
    if not cond.shape == a.shape == b.shape:
        raise ShapeError(f"operand shapes differ: {cond.shape}, {a.shape}, {b.shape}")
    if a.dtype != b.dtype:
        raise DTypeError(f"branch dtypes differ: {a.dtype.name} vs {b.dtype.name}")
    check_devices(types)
    return a


register("where", "elementwise", _infer_where, _np(np.where), "where")


def _infer_astype(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    return types[0].with_dtype(np.dtype(attrs["dtype"]))


register("astype", "elementwise", _infer_astype,
         lambda xs, attrs: xs[0].astype(attrs["dtype"]), "cast")


# ---- gradients (VJP rules) -------------------------------------------------------
# Operands of elementwise ops have one shape, so every rule here is elementwise too;
# the VJP of the front end's broadcast_to nodes sums gradients back to operand shapes.

from .build import binary, scalar, unary  # noqa: E402
from .registry import apply, defvjp  # noqa: E402

_TWO_OVER_SQRT_PI = 1.1283791670955126


def _zero_grad(node, g):
    return tuple(scalar(0, i) for i in node.inputs)


for _name in ("floor", "ceil", "round", "sign", "floor_div"):
    defvjp(_name)(_zero_grad)


@defvjp("neg")
def _neg(node, g):
    return (unary("neg", g),)


@defvjp("abs")
def _abs(node, g):
    return (binary("mul", g, unary("sign", node.inputs[0])),)


@defvjp("exp")
def _exp(node, g):
    return (binary("mul", g, node),)


@defvjp("expm1")
def _expm1(node, g):
    return (binary("mul", g, binary("add", node, scalar(1, node))),)


@defvjp("log")
def _log(node, g):
    return (binary("div", g, node.inputs[0]),)


@defvjp("log1p")
def _log1p(node, g):
    x = node.inputs[0]
    return (binary("div", g, binary("add", x, scalar(1, x))),)


@defvjp("sqrt")
def _sqrt(node, g):
    return (binary("div", binary("mul", g, scalar(0.5, node)), node),)


@defvjp("sin")
def _sin(node, g):
    return (binary("mul", g, unary("cos", node.inputs[0])),)


@defvjp("cos")
def _cos(node, g):
    return (unary("neg", binary("mul", g, unary("sin", node.inputs[0]))),)


@defvjp("tan")
def _tan(node, g):
    return (binary("mul", g, binary("add", scalar(1, node), binary("mul", node, node))),)


@defvjp("tanh")
def _tanh(node, g):
    return (binary("mul", g, binary("sub", scalar(1, node), binary("mul", node, node))),)


@defvjp("erf")
def _erf(node, g):
    x = node.inputs[0]
    density = unary("exp", unary("neg", binary("mul", x, x)))
    return (binary("mul", g, binary("mul", scalar(_TWO_OVER_SQRT_PI, x), density)),)


@defvjp("relu")
def _relu(node, g):
    # relu'(0) = 0, as in MegEngine and PyTorch (not the 1/2 of maximum's tie rule).
    # where(x > 0, g, 0): three nodes (the zero is shared), and as in PyTorch's
    # threshold_backward a non-finite g does not leak into the rows relu cut off.
    x = node.inputs[0]
    zero = scalar(0, x)
    return (apply("where", [binary("greater", x, zero), g, zero]),)


@defvjp("sigmoid")
def _sigmoid(node, g):
    # s * (1 - s) with 1 - s written as sigmoid(-x): 1 - s rounds to 0 for x > ~37 in
    # float64 (~17 in float32), which would lose the tail's gradient entirely.
    rest = unary("sigmoid", unary("neg", node.inputs[0]))
    return (binary("mul", g, binary("mul", node, rest)),)


for _name in ("copy",):
    defvjp(_name)(lambda node, g: (g,))


@defvjp("add")
def _add(node, g):
    return g, g


@defvjp("sub", needs=True)
def _sub(node, g, needs=(True, True)):
    return g, unary("neg", g) if needs[1] else None


@defvjp("mul", needs=True)
def _mul(node, g, needs=(True, True)):
    a, b = node.inputs
    return (binary("mul", g, b) if needs[0] else None,
            binary("mul", g, a) if needs[1] else None)


@defvjp("div", needs=True)
def _div(node, g, needs=(True, True)):
    a, b = node.inputs
    ga = binary("div", g, b)
    return ga if needs[0] else None, unary("neg", binary("mul", ga, node)) if needs[1] else None


@defvjp("mod")
def _mod(node, g):
    a, b = node.inputs
    return g, unary("neg", binary("mul", g, binary("floor_div", a, b)))


@defvjp("pow")
def _pow(node, g):
    a, b = node.inputs
    # d/da a**b = b * a**(b-1), taken as 0 where b == 0 (as PyTorch does): at a == 0
    # the formula gives 0 * 0**-1 = nan, though a**0 is constant.
    slope = binary("mul", b, binary("pow", a, binary("sub", b, scalar(1, b))))
    ga = binary("mul", g, apply("where", [binary("equal", b, scalar(0, b)), scalar(0, b),
                                          slope]))
    # d/db a**b = a**b * log(a); taken as 0 where a == 0 (as PyTorch does).
    log_a = unary("log", a)
    safe = apply("where", [binary("equal", a, scalar(0, a)), scalar(0, a),
                           binary("mul", node, log_a)])
    return ga, binary("mul", g, safe)


def _extreme_vjp(pick: str):
    # The larger (smaller) operand gets the gradient; ties split it in half.
    def rule(node, g):
        a, b = node.inputs
        wins_a = apply("astype", [binary(pick, a, b)], dtype=g.type.dtype.name)
        tie = apply("astype", [binary("equal", a, b)], dtype=g.type.dtype.name)
        share_a = binary("add", wins_a, binary("mul", tie, scalar(0.5, g)))
        share_b = binary("sub", scalar(1, g), share_a)
        return binary("mul", g, share_a), binary("mul", g, share_b)

    return rule


defvjp("maximum")(_extreme_vjp("greater"))
defvjp("minimum")(_extreme_vjp("less"))


@defvjp("where", needs=True)
def _where(node, g, needs=(False, True, True)):
    cond = node.inputs[0]
    zero = scalar(0, g)
    return (None, apply("where", [cond, g, zero]) if needs[1] else None,
            apply("where", [cond, zero, g]) if needs[2] else None)


@defvjp("astype")
def _astype(node, g):
    x = node.inputs[0]
    if not np.issubdtype(x.type.dtype, np.floating):
        return (None,)
    return (apply("astype", [g], dtype=x.type.dtype.name),)
