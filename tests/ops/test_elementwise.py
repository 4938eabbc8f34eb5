"""Elementwise ops (graphc/ops/elementwise.py): inference rules and errors, references
against NumPy, and the CPU renderer's text of each op's scalar op agrees with the
reference element by element."""

import math

import numpy as np
import pytest

from graphc.codegen.cpu_ops import SCALAR_OPS
from graphc.ir import DTypeError, ShapeError, buffer_node
from graphc.ops import OPS, apply, get_op

RNG = np.random.default_rng(4)


def leaf(data) -> object:
    return buffer_node(np.asarray(data), "cpux")


def reference(name: str, *arrays, **attrs) -> np.ndarray:
    """The op's NumPy reference, through apply() so inference sees the same operands."""
    from graphc import interp

    node = apply(name, [leaf(a) for a in arrays], **attrs)
    return interp.run([node])[node.uid]


# ---- inference ----------------------------------------------------------------------------

FLOAT_ONLY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "erf",
              "sigmoid", "floor", "ceil", "round", "isnan", "isinf"]
NUMERIC = ["neg", "abs", "sign"]
PREDICATES = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
ARITHMETIC = ["add", "sub", "mul", "floor_div", "mod", "pow", "maximum", "minimum"]


@pytest.mark.parametrize("name", FLOAT_ONLY)
def test_float_only_ops_reject_ints_and_bools(name):
    for dtype in (np.int32, np.bool_):
        with pytest.raises(DTypeError, match=f"{name}: expects a floating-point operand"):
            apply(name, [leaf(np.zeros(2, dtype))])


@pytest.mark.parametrize("name", NUMERIC + ARITHMETIC[:-2])
def test_numeric_ops_reject_bools(name):
    x = leaf(np.zeros(2, bool))
    with pytest.raises(DTypeError, match=f"{name}: expects numeric operands, got bool"):
        apply(name, [x] * (2 if name in ARITHMETIC else 1))


@pytest.mark.parametrize("name", LOGICAL)
def test_logical_ops_require_bools(name):
    x = leaf(np.zeros(2, np.int32))
    with pytest.raises(DTypeError, match=f"{name}: expects bool operands"):
        apply(name, [x, x])


def test_div_requires_floats():
    x = leaf(np.ones(2, np.int32))
    with pytest.raises(DTypeError, match="div"):
        apply("div", [x, x])


@pytest.mark.parametrize("name", ARITHMETIC + PREDICATES)
def test_binary_ops_need_equal_shapes_and_dtypes(name):
    a = leaf(np.ones((2, 3), np.float32))
    with pytest.raises(ShapeError, match=rf"{name}: operand shapes differ: \(2, 3\) vs \(3,\)"):
        apply(name, [a, leaf(np.ones(3, np.float32))])
    with pytest.raises(DTypeError, match=f"{name}: operand dtypes differ: float32 vs int32"):
        apply(name, [a, leaf(np.ones((2, 3), np.int32))])


@pytest.mark.parametrize("name", PREDICATES + LOGICAL + ["isnan", "isinf", "logical_not"])
def test_predicates_return_bool(name):
    dtype = bool if name.startswith("logical") else np.float32
    x = leaf(np.zeros((2, 3), dtype))
    arity = 1 if name in ("isnan", "isinf", "logical_not") else 2
    node = apply(name, [x] * arity)
    assert node.type.dtype == np.bool_ and node.type.shape == (2, 3)


@pytest.mark.parametrize("name", ARITHMETIC + NUMERIC)
def test_arithmetic_keeps_operand_type(name):
    x = leaf(np.ones((4,), np.int32))
    node = apply(name, [x] * (2 if name in ARITHMETIC else 1))
    assert node.type == x.type


def test_where_inference():
    cond = leaf(np.ones(3, bool))
    a, b = leaf(np.ones(3, np.float32)), leaf(np.zeros(3, np.float32))
    assert apply("where", [cond, a, b]).type == a.type
    with pytest.raises(DTypeError, match="where: condition must be bool"):
        apply("where", [a, a, b])
    with pytest.raises(ShapeError, match="where: operand shapes differ"):
        apply("where", [leaf(np.ones(2, bool)), a, b])
    with pytest.raises(DTypeError, match="where: branch dtypes differ"):
        apply("where", [cond, a, leaf(np.zeros(3, np.int32))])


def test_astype_changes_only_the_dtype():
    x = leaf(np.array([1.7, -1.7, 0.0], np.float32))
    node = apply("astype", [x], dtype="int32")
    assert node.type.dtype == np.int32 and node.type.shape == (3,)
    np.testing.assert_array_equal(reference("astype", x.buffer, dtype="int32"),
                                  x.buffer.astype(np.int32))


# ---- references ---------------------------------------------------------------------------

def test_erf_reference_matches_math_erf_and_keeps_dtype():
    x = np.array([-3.0, -0.5, 0.0, 0.3, 2.0, np.inf, np.nan], np.float32)
    got = reference("erf", x)
    expected = np.array([math.erf(v) for v in x.tolist()], np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-7)
    assert reference("erf", np.zeros((0, 2), np.float32)).shape == (0, 2)


def test_sigmoid_reference_is_stable_and_keeps_dtype():
    x = np.array([-1e4, -30.0, 0.0, 30.0, 1e4], np.float16).astype(np.float32)
    with np.errstate(all="raise"):
        got = reference("sigmoid", x)
    with np.errstate(over="ignore"):
        expected = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-38)
    assert reference("sigmoid", np.zeros(2, np.float16)).dtype == np.float16


def test_round_reference_rounds_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5], np.float32)
    np.testing.assert_array_equal(reference("round", x), np.array([0, 2, 2, -0.0, -2]))


# ---- the CPU text of each scalar op agrees with the references ----------------------

def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


# What the templates' helper names mean (codegen supplies vectorising versions).
NAMESPACE = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "erf": math.erf,
    "sigmoid": _sigmoid, "floor": np.floor, "ceil": np.ceil, "rint": np.rint,
    "sign": np.sign, "isnan": np.isnan, "isinf": np.isinf, "floor_div": np.floor_divide,
    "mod": np.mod, "power": np.power, "maximum": np.maximum, "minimum": np.minimum,
    "relu": lambda v: np.maximum(v, 0),
    "float32": np.float32, "int32": np.int32, "bool": bool, "float16": np.float16,
}


def cpu_text(op) -> str:
    """The CPU renderer's text of the scalar op ``op`` computes (graphc/codegen/cpu_ops.py)."""
    return SCALAR_OPS[op.scalar_op]


def _operands_for(name: str) -> list[np.ndarray]:
    op = get_op(name)
    floats = RNG.uniform(0.2, 3.0, 6).astype(np.float32)
    signed = np.array([-2.5, -1.0, 0.0, 0.5, 1.5, 2.5], np.float32)
    ints = np.array([-7, -1, 0, 3, 7, 9], np.int32)
    bools = np.array([True, False, True, False, True, True])
    if name in ("logical_and", "logical_or", "logical_xor", "logical_not"):
        pool = [bools, bools[::-1].copy()]
    elif name == "where":
        return [bools, signed, floats]
    elif name in ("floor_div", "mod"):
        pool = [ints, np.array([2, -3, 5, 4, -2, 3], np.int32)]
    elif name == "pow":
        pool = [floats, signed]
    elif name in FLOAT_ONLY or name == "div":
        pool = [floats if name in ("log", "log1p", "sqrt") else signed * 0.5, floats]
    else:
        pool = [signed, floats]
    arity = len({part.split("}")[0] for part in cpu_text(op).split("{")[1:]})
    return pool[:arity]


ELEMENTWISE = sorted(n for n, op in OPS.items() if op.kind == "elementwise" and n != "astype"
                     and not n.startswith("test_"))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_template_agrees_with_reference(name):
    arrays = _operands_for(name)
    expected = reference(name, *arrays)
    template = cpu_text(get_op(name))
    for k in range(expected.size):
        args = [f"_v{i}" for i in range(len(arrays))]
        scope = dict(NAMESPACE, **{a: arr[k] for a, arr in zip(args, arrays)})
        value = eval(template.format(*args), scope)  # noqa: S307 (our own template text)
        np.testing.assert_allclose(np.asarray(value, expected.dtype), expected[k], rtol=1e-6,
                                   err_msg=f"{name} at element {k}: {template}")


@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_astype_template_casts(dtype):
    x = np.array([-1.5, 0.0, 2.7], np.float32)
    expected = reference("astype", x, dtype=dtype)
    for k in range(3):
        value = eval(cpu_text(get_op("astype")).format("_v", dtype=dtype),  # noqa: S307
                     dict(NAMESPACE, _v=x[k]))
        assert np.asarray(value, expected.dtype) == expected[k]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["interp", "compiled"])
def test_pow_by_a_scalar_half_is_pow_not_sqrt(dtype, backend, monkeypatch):
    """pow(-0.0, 0.5) is +0.0 and pow(-inf, 0.5) is +inf (C's pow, the kernels), where
    NumPy's power by a scalar 0.5 computes sqrt (-0.0 and NaN): the reference follows
    pow whatever shape the exponent has."""
    import graphc

    monkeypatch.setenv("GRAPHC_BACKEND", backend)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.25, -4.0], dtype)
    want = np.array([math.pow(v, 0.5) if not (v < 0 and v > -np.inf) else np.nan
                     for v in special.tolist()], dtype)
    scalar = graphc.tensor(special, dtype=dtype) ** 0.5
    full = graphc.tensor(special, dtype=dtype) ** graphc.tensor(np.full(7, 0.5, dtype),
                                                                  dtype=dtype)
    for got in (scalar.numpy(), full.numpy()):
        np.testing.assert_array_equal(got, want)  # NaN where NaN (of either sign)
        assert (np.signbit(got) == np.signbit(want))[~np.isnan(want)].all()
