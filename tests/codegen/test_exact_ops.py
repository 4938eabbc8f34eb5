"""Every op flagged exact (graphc/ops/exact.py) computes, compiled, the bits of its NumPy
reference: the first sighting of a tiny graph of such ops runs in the interpreter and
later ones compiled, so the two must agree to the bit, for signed zeros, infinities,
NaNs and subnormals, in every dtype the op takes (a NaN's sign and payload excepted:
see ``assert_bits``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import interp
from graphc.ir import buffer_node, structural_key, topo_order
from graphc.ops import OPS, apply, computes_exactly
from graphc.runtime.compiler import _runtime_value, compile_outputs

FLOATS = ["float32", "float64", "float16"]
INTS = ["int8", "int16", "int32", "int64", "uint8"]
ALL = FLOATS + INTS + ["bool"]
rng = np.random.default_rng(14)


def specials(dtype: np.dtype) -> np.ndarray:
    """The values where arithmetic is easiest to get wrong, in ``dtype``."""
    if dtype.kind == "f":
        info = np.finfo(dtype)
        sub = info.smallest_subnormal
        nan = np.array(np.nan, dtype)
        values = [0.0, -0.0, np.inf, -np.inf, info.tiny, -info.tiny, sub, -sub, 3 * sub,
                  info.tiny / 2, info.max, -info.max, 1.0, -1.0, 0.5, 3.0]
        return np.concatenate([np.array(values, dtype), [nan, -nan]])
    if dtype.kind == "b":
        return np.array([False, True])
    info = np.iinfo(dtype)
    return np.array(sorted({0, 1, 2, info.max, info.max - 1, info.min, info.min + 1,
                            -1 if info.min else 3}), dtype)


def operands(dtype: str, arity: int, n: int = 192) -> list[np.ndarray]:
    """``arity`` arrays holding every combination of special values, then random ones
    (floats at several scales, subnormal ones included)."""
    dtype = np.dtype(dtype)
    s = specials(dtype)
    grid = [g.ravel() for g in np.meshgrid(*[s] * arity, indexing="ij")]
    if dtype.kind == "f":
        scale = rng.choice([1e-40, 1e-6, 1.0, 1e4, 1e30], (arity, n))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extra = (rng.standard_normal((arity, n)) * scale).astype(dtype)
    elif dtype.kind == "b":
        extra = rng.random((arity, n)) < 0.5
    else:
        info = np.iinfo(dtype)
        extra = rng.integers(info.min, info.max, (arity, n), dtype=dtype, endpoint=True)
    return [np.concatenate([g, e]) for g, e in zip(grid, extra)]


def bits(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def assert_bits(nodes) -> None:
    """Compiled (never interpreted) and reference values of ``nodes`` are bit-identical."""
    _, args = structural_key(nodes)
    compiled = compile_outputs(nodes, args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow and invalid-value warnings
        got = compiled.program.run([_runtime_value(a) for a in args])
        want = interp.run(nodes)
    for node, g in zip(nodes, got):
        w = want[node.uid]
        assert g.dtype == w.dtype and g.shape == w.shape, (node.op, g.dtype, w.dtype)
        differ = bits(g) != bits(w)
        if g.dtype.kind == "f":
            # Which NaN operand's sign and payload a result carries is left open by IEEE
            # 754 and by LLVM, which may swap the operands of a commutative op: nan +
            # -nan is nan or -nan. Every other value, zeros' signs included, is exact.
            differ &= ~(np.isnan(g) & np.isnan(w))
        bad = np.flatnonzero(differ)
        assert not bad.size, (f"{node.op} {node.inputs[0].type.dtype}: compiled "
                              f"{g.ravel()[bad[:3]]} != reference {w.ravel()[bad[:3]]}")


def accepts(op: str, dtype: str) -> bool:
    try:
        x = buffer_node(np.zeros(1, dtype), "cpux")
        apply(op, [x] * (3 if op == "where" else 1 if op in UNARY else 2))
        return True
    except Exception:  # the op's inference refuses this dtype
        return False


UNARY = ["neg", "abs", "relu", "copy", "detach", "identity", "isnan", "isinf", "logical_not"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "equal", "not_equal", "less",
          "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor"]
ELEMENTWISE = UNARY + BINARY + ["where"]


@pytest.mark.parametrize("dtype", ALL)
def test_elementwise_ops_match_their_reference_bit_for_bit(dtype):
    a, b = (buffer_node(v, "cpux") for v in operands(dtype, 2))
    mask = buffer_node(rng.random(a.type.shape) < 0.5, "cpux")
    nodes = []
    for op in ELEMENTWISE:
        if op == "where":
            nodes.append(apply("where", [mask, a, b]))
        elif accepts(op, dtype):
            nodes.append(apply(op, [a] if op in UNARY else [a, b]))
    assert len(nodes) >= 4
    assert_bits(nodes)  # one fused kernel: each output one op over stored inputs


@pytest.mark.parametrize("src", ALL)
def test_casts_match_their_reference_bit_for_bit(src):
    (a,) = (buffer_node(v, "cpux") for v in operands(src, 1, n=512))
    casts = [apply("astype", [a], dtype=dst) for dst in ALL if dst != src]
    exact = [c for c in casts if computes_exactly(c)]
    assert_bits(exact)
    if np.dtype(src).kind == "f":  # float to integer: NaN, inf, out of range differ
        assert len(exact) == len(FLOATS), [c.type.dtype for c in exact]


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "bool"])
def test_movement_and_reference_run_ops_match_bit_for_bit(dtype):
    data = np.resize(operands(dtype, 1)[0], (6, 10))
    x = graphc.tensor(data, dtype=dtype)
    outs = [x.reshape(10, 6), x.T[::2], F.broadcast_to(x[:, :1], (6, 10)),
            x[1:5, ::-3], F.pad(x, ((1, 2), (0, 3)), constant_value=0.0),
            F.pad(x, ((1, 1), (2, 2)), mode="edge"), F.pad(x, ((2, 1), (1, 2)), mode="reflect"),
            x[[0, 5, 2]], F.gather(x, 1, graphc.tensor(rng.integers(0, 10, (6, 4)))),
            F.concat([x, x[::-1]], axis=1)]
    y = graphc.tensor(data, dtype=dtype)
    y[[1, 3]] = x[:2]
    outs.append(y)
    nodes = [t._node for t in outs] + [apply("to_device", [x._node], device="cpu0")]
    ops = {n.op for n in topo_order(nodes)}
    assert {"reshape", "transpose", "broadcast_to", "slice", "pad", "index", "gather",
            "concat", "setitem", "to_device"} <= ops
    assert [n.op for n in topo_order(nodes) if n.inputs and not computes_exactly(n)] == []
    assert_bits(nodes)


def test_every_exact_op_is_tested_here():
    tested = set(ELEMENTWISE) | {"astype", "reshape", "transpose", "broadcast_to", "slice",
                                 "pad", "index", "gather", "concat", "setitem", "to_device"}
    assert {name for name, op in OPS.items() if op.exact} == tested


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_chains_of_exact_ops_match_bit_for_bit(dtype):
    """A map kernel computes a chain as written (no reassociation): ``(x * s) * t`` with
    runtime scalars is not ``x * (s * t)``, nor ``(x + y) - y`` ``x``."""
    a, b, c = (buffer_node(v, "cpux") for v in operands(dtype, 3)[:3])
    s = buffer_node(np.array(0.1 if dtype != "int64" else 3, dtype), "cpux")
    t = buffer_node(np.array(0.3 if dtype != "int64" else 7, dtype), "cpux")
    bs, bt = (apply("broadcast_to", [v], shape=a.type.shape) for v in (s, t))
    scaled = apply("mul", [apply("mul", [a, bs]), bt])
    back = apply("sub", [apply("add", [a, b]), b])
    mixed = apply("where", [apply("greater", [scaled, c]),
                            apply("maximum", [back, apply("neg", [c])]),
                            apply("div" if dtype != "int64" else "mul", [a, c])])
    nodes = [scaled, back, mixed]
    assert all(computes_exactly(n) for n in topo_order(nodes) if n.inputs)
    assert_bits(nodes)


def test_narrow_arithmetic_is_not_exact_in_chains():
    """float16 arithmetic runs in float32 and narrow integers in 64 bits inside a kernel,
    so a chain differs from NumPy's per-op rounding; the tier must refuse them."""
    h = buffer_node(np.ones(4, np.float16), "cpux")
    i = buffer_node(np.ones(4, np.int32), "cpux")
    assert not computes_exactly(apply("add", [h, h]))
    assert not computes_exactly(apply("mul", [i, i]))
    assert computes_exactly(apply("less", [h, h])) and computes_exactly(apply("neg", [
        buffer_node(np.ones(4, np.int64), "cpux")]))
