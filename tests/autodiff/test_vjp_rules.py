"""Every differentiable op's VJP rule against central finite differences.

Each op is reached through its user-facing form (``graphc.functional`` or a Tensor
method), in float64 on the reference interpreter. ``check_grad`` weights the output by a
random ``dy`` and compares the autodiff gradient with central differences of the same
function: rtol 1e-6, atol 1e-7 unless a case states otherwise. Points of
non-differentiability (ties, zeros, kinks) are tested separately against the documented
closed-form choice.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc
import graphc.functional as F
from graphc.autodiff import grad
from tests.autodiff.gradcheck import as_f64, check_grad

_rng = np.random.default_rng(1234)


def rand(*shape: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return _rng.uniform(lo, hi, size=shape)


def positive(*shape: int) -> np.ndarray:
    return rand(*shape, lo=0.5, hi=2.0)


def int_tensor(values: list) -> graphc.Tensor:
    return graphc.tensor(np.array(values, dtype=np.int32))


def _assign(x: graphc.Tensor, key: object, value: graphc.Tensor) -> graphc.Tensor:
    """``x`` (as a fresh tensor) after ``x[key] = value``."""
    y = x * 1.0
    y[key] = value
    return y


# Smooth points only: non-integer, away from ties, kinks and rounding boundaries.
ELEMENTWISE = {
    "add": (F.add, rand(2, 3), rand(3)),
    "sub": (F.sub, rand(2, 1), rand(1, 3)),
    "mul": (F.mul, rand(2, 3), rand(2, 1)),
    "div": (F.div, rand(2, 3), positive(3)),
    "pow": (F.pow, positive(2, 3), rand(2, 3)),
    "pow_scalar_exponent": (lambda x: x ** 3.0, rand(4)),
    "pow_scalar_base": (lambda x: 2.0 ** x, rand(4)),
    "neg": (F.neg, rand(4)),
    "abs": (F.abs, rand(4)),
    "exp": (F.exp, rand(4)),
    "log": (F.log, positive(4)),
    "log1p": (F.log1p, positive(4)),
    "expm1": (F.expm1, rand(4)),
    "sqrt": (F.sqrt, positive(4)),
    "square": (F.square, rand(4)),
    "sin": (F.sin, rand(4)),
    "cos": (F.cos, rand(4)),
    "tan": (F.tan, rand(4)),
    "tanh": (F.tanh, rand(4)),
    "erf": (F.erf, rand(4)),
    "sigmoid": (F.sigmoid, rand(4, lo=-5, hi=5)),
    "maximum": (F.maximum, np.array([0.1, -0.5, 0.7]), np.array([0.3, -0.9, 0.2])),
    "minimum": (F.minimum, np.array([0.1, -0.5, 0.7]), np.array([0.3, -0.9, 0.2])),
    "clip": (lambda x: F.clip(x, -0.5, 0.5), np.array([-0.9, -0.2, 0.3, 0.7])),
    "clip_lower_only": (lambda x: F.clip(x, lower=0.0), np.array([-0.5, 0.5])),
    "clip_upper_only": (lambda x: F.clip(x, upper=0.0), np.array([-0.5, 0.5])),
    "where": (lambda a, b: F.where(a > 0, a, b), np.array([0.5, -0.5, 0.2]), rand(3)),
    "mod": (F.mod, np.array([2.3, -1.7, 0.4]), np.array([0.9, 0.8, 1.5])),
    "floor_div": (lambda a, b: F.floor_div(a, b) * a, np.array([2.3, -1.7]),
                  np.array([0.9, 0.8])),
    # floor, ceil, round, sign are piecewise constant: gradient 0 (checked through + x).
    "floor": (lambda x: F.floor(x) + x, np.array([1.3, -0.6])),
    "ceil": (lambda x: F.ceil(x) + x, np.array([1.3, -0.6])),
    "round": (lambda x: F.round(x) + x, np.array([1.3, -0.6])),
    "sign": (lambda x: F.sign(x) * x, np.array([1.3, -0.6])),
    "copy": (F.copy, rand(3)),
    "to_device": (lambda x: x.to("cpu0") * 2.0, rand(3)),
    "zero_d": (lambda x: x * x + F.exp(x), np.array(0.3)),
    "zero_d_broadcast": (F.mul, np.array(0.3), rand(2, 2)),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise(name: str) -> None:
    fn, *arrays = ELEMENTWISE[name]
    check_grad(fn, *arrays)


def test_astype_passes_the_gradient_through_with_the_input_dtype() -> None:
    # A float32 round trip quantises x, so differences need a large step (tol 1e-3).
    check_grad(lambda x: x.astype("float32").astype("float64") * x, np.array([0.3, 1.7]),
               eps=1e-3, rtol=1e-3)
    x = as_f64([1.0, 2.0])
    g = grad(x.astype("float32").sum(), x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])


REDUCTIONS = ("sum", "mean", "prod", "max", "min", "var", "std")
AXES = (0, 1, 2, (0, 2), None)


@pytest.mark.parametrize("op,axis,keepdims",
                         list(itertools.product(REDUCTIONS, AXES, (False, True))))
def test_reduction(op: str, axis: object, keepdims: bool) -> None:
    x = rand(2, 3, 2)  # continuous random values: no ties, no zeros
    check_grad(lambda t: getattr(F, op)(t, axis, keepdims), x)


@pytest.mark.parametrize("axis,keepdims", list(itertools.product((0, 1, -1), (False, True))))
def test_logsumexp(axis: int, keepdims: bool) -> None:
    check_grad(lambda t: F.logsumexp(t, axis, keepdims), rand(2, 3, 2))


MATMUL = {
    "2d": (F.matmul, rand(2, 3), rand(3, 4)),
    "batched": (F.matmul, rand(2, 2, 3), rand(2, 3, 4)),
    "broadcast_batch": (F.matmul, rand(2, 2, 3), rand(3, 4)),
    "broadcast_both": (F.matmul, rand(1, 2, 3), rand(2, 1, 3, 2)),
    "vector_matrix": (F.matmul, rand(3), rand(3, 2)),
    "matrix_vector": (F.matmul, rand(2, 3), rand(3)),
    "vector_vector": (F.matmul, rand(3), rand(3)),
    "vector_batch": (F.matmul, rand(3), rand(2, 3, 2)),
    "transpose_both": (lambda a, b: F.matmul(a, b, transpose_a=True, transpose_b=True),
                       rand(3, 2), rand(4, 3)),
    "transpose_a_batched": (lambda a, b: F.matmul(a, b, transpose_a=True),
                            rand(2, 3, 2), rand(1, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(MATMUL))
def test_matmul(name: str) -> None:
    fn, *arrays = MATMUL[name]
    check_grad(fn, *arrays)


MOVEMENT = {
    "reshape": (lambda x: x.reshape(3, 2) * x.reshape(3, 2), rand(2, 3)),
    "transpose": (lambda x: x.transpose(2, 0, 1), rand(2, 3, 2)),
    "transpose_new_axis": (lambda x: F.transpose(x, (1, "x", 0)), rand(2, 3)),
    "broadcast_to": (lambda x: F.broadcast_to(x, (2, 3, 3)), rand(3, 1)),
    "expand_dims": (lambda x: F.expand_dims(x, (0, -1)), rand(3)),
    "squeeze": (F.squeeze, rand(1, 3, 1)),
    "flatten": (lambda x: F.flatten(x, 1), rand(2, 2, 2)),
    "slice_steps": (lambda x: x[::2, 1:], rand(4, 3)),
    "slice_negative_steps": (lambda x: x[::-2, ::-1], rand(5, 3)),
    "int_index": (lambda x: x[1, -1], rand(3, 3)),
    "ellipsis_newaxis": (lambda x: x[None, ..., 1], rand(2, 3)),
    "concat": (lambda a, b: F.concat([a, b], axis=1), rand(2, 1), rand(2, 3)),
    "stack": (lambda a, b: F.stack([a, b], axis=1), rand(2, 3), rand(2, 3)),
    "split_points": (lambda x: F.split(x, [1], axis=1)[1] * F.split(x, 3, axis=1)[0],
                     rand(2, 3)),
    "split_sections": (lambda x: F.split(x, 2, axis=0)[0] * 2.0 + F.split(x, 2)[1],
                       rand(4, 2)),
    "diag_of_vector": (F.diag, rand(3)),
    "diag_of_matrix": (F.diag, rand(3, 3)),
    "diag_above": (lambda x: F.diag(x, 1), rand(3)),
    "diag_below_rectangular": (lambda x: F.diag(x, -1), rand(3, 4)),
}


@pytest.mark.parametrize("name", sorted(MOVEMENT))
def test_movement(name: str) -> None:
    fn, *arrays = MOVEMENT[name]
    check_grad(fn, *arrays)


INDEXING = {
    "array": (lambda x: x[[0, 2, 0]], rand(3, 2)),
    "two_arrays": (lambda x: x[[0, 1, 0], [1, 1, 1]], rand(3, 2)),
    "slice_and_array": (lambda x: x[:, [0, 0, 2]], rand(2, 3)),
    "non_adjacent_arrays": (lambda x: x[[0, 1], :, [1, 0]], rand(2, 3, 2)),
    "newaxis_int_array": (lambda x: x[None, 1, [0, 2, 2]], rand(2, 3)),
    "tensor_2d_index": (lambda x: x[int_tensor([[0, 1], [1, 1]]), int_tensor([[2], [0]])],
                        rand(2, 3)),
    "setitem_basic": (lambda x, v: _assign(x, 0, v) ** 2, rand(2, 3), rand(3)),
    "setitem_broadcast_value": (lambda x, v: _assign(x, (slice(None), 1), v),
                                rand(3, 2), rand(1)),
    "setitem_advanced": (lambda x, v: _assign(x, (slice(1, None), [0, 2]), v),
                         rand(3, 3), rand(2, 2)),
    # NumPy keeps the last of repeated writes: the earlier values get no gradient.
    "setitem_repeated_indices": (lambda x, v: _assign(x, [0, 2, 0], v), rand(3),
                                 rand(3)),
    "setitem_repeated_index_pairs": (lambda x, v: _assign(x, ([1, 1, 0], [0, 0, 1]), v),
                                     rand(2, 2), rand(3)),
    "gather": (lambda x: F.gather(x, 1, int_tensor([[0, 0, 2], [1, 2, 1]])), rand(2, 3)),
    "gather_smaller_index": (lambda x: F.gather(x, 0, int_tensor([[1], [1]])), rand(3, 2)),
}


@pytest.mark.parametrize("name", sorted(INDEXING))
def test_indexing(name: str) -> None:
    fn, *arrays = INDEXING[name]
    check_grad(fn, *arrays)


NN = {
    "softmax": (lambda x: F.softmax(x, axis=1), rand(2, 3)),
    "softmax_default_axis": (F.softmax, rand(2, 3, 2)),
    "logsoftmax": (lambda x: F.logsoftmax(x, axis=0), rand(2, 3)),
    "gelu": (F.gelu, rand(5, lo=-3, hi=3)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), rand(5, lo=-3, hi=3)),
    "leaky_relu": (F.leaky_relu, np.array([-0.7, -0.1, 0.2, 0.9])),
    "relu": (F.relu, np.array([-0.7, -0.1, 0.2, 0.9])),
    "norm_2": (F.norm, rand(4)),
    "norm_1": (lambda x: F.norm(x, ord=1), np.array([0.1, -0.9, 0.5])),
    "norm_inf": (lambda x: F.norm(x, ord=float("inf")), np.array([0.1, -0.9, 0.5])),
}


@pytest.mark.parametrize("name", sorted(NN))
def test_nn(name: str) -> None:
    fn, *arrays = NN[name]
    check_grad(fn, *arrays)


# ---- broadcasting, on random shapes ---------------------------------------------

@st.composite
def broadcast_pair(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    full = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    shapes = []
    for _ in range(2):
        lead = draw(st.integers(0, len(full)))
        shapes.append(tuple(d if draw(st.booleans()) else 1 for d in full[lead:]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, shapes[0]), rng.uniform(0.5, 1.5, shapes[1])


@settings(max_examples=25)
@given(pair=broadcast_pair(), op=st.sampled_from(["add", "sub", "mul", "div", "pow",
                                                   "maximum", "minimum"]))
def test_broadcasting_is_undone_by_summing(pair: tuple, op: str) -> None:
    a, b = pair
    if op in ("maximum", "minimum"):
        b = b + 0.01  # keep operands apart: ties are tested on their own below
    check_grad(getattr(F, op), a, b)


# ---- non-differentiable points: the documented choices ----------------------------

@pytest.mark.parametrize("op,a_wins", [(F.maximum, np.greater), (F.minimum, np.less)])
def test_maximum_and_minimum_split_a_tie_evenly(op, a_wins) -> None:
    a_data, b_data = np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 1.0])
    a, b = as_f64(a_data), as_f64(b_data)
    ga, gb = grad(op(a, b).sum(), [a, b])
    tie = a_data == b_data
    share_a = np.where(tie, 0.5, a_wins(a_data, b_data).astype(float))
    np.testing.assert_array_equal(ga.numpy(), share_a)
    np.testing.assert_array_equal(gb.numpy(), 1.0 - share_a)


def test_clip_at_its_bounds_gets_half_the_gradient() -> None:
    # clip is maximum then minimum, so a value on a bound is a tie: half goes through.
    x = as_f64([-1.0, 0.0, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(grad(F.clip(x, 0.0, 1.0).sum(), x).numpy(),
                                  [0.0, 0.5, 1.0, 0.5, 0.0])


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_split_ties_evenly_among_extreme_positions(op: str) -> None:
    data = np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 0.0, 0.0, 2.0]])
    data = data if op == "max" else -data
    x = as_f64(data)
    g = grad(getattr(F, op)(x, axis=1).sum(), x).numpy()
    np.testing.assert_allclose(g, [[0, 1 / 3, 1 / 3, 1 / 3], [0.5, 0, 0, 0.5]], rtol=1e-12)
    # The full reduction too: three positions hold the maximum of everything.
    g_all = grad(getattr(F, op)(x), x).numpy()
    np.testing.assert_allclose(g_all, (data == data.max() if op == "max" else
                                       data == data.min()) / 3.0, rtol=1e-12)


def test_prod_gradient_is_exact_with_zeros() -> None:
    data = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 2.0], [1.0, 2.0, 3.0]])
    x = as_f64(data)
    g = grad(x.prod(axis=1).sum(), x).numpy()
    # d/dx_i prod(x) = product of the other entries, computed directly.
    want = np.array([[np.prod(np.delete(row, i)) for i in range(3)] for row in data])
    np.testing.assert_array_equal(g, want)
    # Also where differences work: one zero is a smooth point of prod.
    check_grad(lambda t: t.prod(axis=1), data[:1])


def test_pow_with_a_zero_base() -> None:
    a, b = as_f64([0.0, 0.0, 0.0, 2.0]), as_f64([2.0, 1.0, 0.0, 3.0])
    ga, gb = grad((a ** b).sum(), [a, b])
    # d/da a^b = b a^(b-1): 0, 1, and 0 for b == 0 (a^0 is constant); 12 at a = 2.
    np.testing.assert_array_equal(ga.numpy(), [0.0, 1.0, 0.0, 12.0])
    # d/db a^b = a^b log a, taken as 0 at a == 0.
    np.testing.assert_allclose(gb.numpy(), [0.0, 0.0, 0.0, 8 * np.log(2.0)], rtol=1e-12)


def test_where_sends_zero_to_the_unselected_branch() -> None:
    a, b = as_f64([1.0, -2.0, 3.0]), as_f64([4.0, 5.0, 6.0])
    ga, gb = grad(F.where(a > 0, a * 2.0, b * 3.0).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [2.0, 0.0, 2.0])
    np.testing.assert_array_equal(gb.numpy(), [0.0, 3.0, 0.0])
    # A NaN in the unselected branch's value does not leak into the gradient.
    x = as_f64([2.0, 3.0])
    g = grad(F.where(x > 2.5, F.log(x - 2.5), x).sum(), x)
    np.testing.assert_allclose(g.numpy(), [1.0, 2.0], rtol=1e-12)


def test_duplicate_indices_accumulate() -> None:
    x = as_f64([[1.0, 2.0], [3.0, 4.0]])
    g = grad(x[[0, 0, 1]].sum(), x).numpy()
    np.testing.assert_array_equal(g, [[2.0, 2.0], [1.0, 1.0]])
    g = grad(x[[0, 0, 1], [1, 1, 0]].sum(), x).numpy()
    np.testing.assert_array_equal(g, [[0.0, 2.0], [1.0, 0.0]])
    idx = int_tensor([[1, 1], [0, 1]])
    g = grad(F.gather(x, 1, idx).sum(), x).numpy()
    np.testing.assert_array_equal(g, [[0.0, 2.0], [1.0, 1.0]])


def test_setitem_overwritten_region_gets_no_gradient() -> None:
    x, v = as_f64([1.0, 2.0, 3.0]), as_f64([5.0, 6.0])
    y = x * 1.0
    y[[0, 2]] = v
    gx, gv = grad((y * as_f64([1.0, 2.0, 3.0])).sum(), [x, v])
    np.testing.assert_array_equal(gx.numpy(), [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(gv.numpy(), [1.0, 3.0])


# ---- numerical stability at large |x| ---------------------------------------------

BIG = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1001.0]])


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_logsumexp_gradient_is_softmax_at_large_inputs() -> None:
    x = as_f64(BIG)
    g = grad(F.logsumexp(x, axis=1).sum(), x).numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, _softmax(BIG), rtol=1e-12, atol=1e-300)


def test_logsoftmax_gradient_is_stable_at_large_inputs() -> None:
    w = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [0.5, 0.5, 2.0]])
    x = as_f64(BIG)
    g = grad((F.logsoftmax(x, axis=1) * as_f64(w)).sum(), x).numpy()
    # d/dx sum(w * (x - lse(x))) = w - softmax(x) * sum(w)
    want = w - _softmax(BIG) * w.sum(axis=1, keepdims=True)
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


def test_softmax_gradient_is_stable_at_large_inputs() -> None:
    w = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [0.5, 0.5, 2.0]])
    x = as_f64(BIG)
    g = grad((F.softmax(x, axis=1) * as_f64(w)).sum(), x).numpy()
    s = _softmax(BIG)
    want = s * (w - (s * w).sum(axis=1, keepdims=True))
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


def test_sigmoid_gradient_is_stable_at_large_inputs() -> None:
    data = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    x = as_f64(data)
    g = grad(F.sigmoid(x).sum(), x).numpy()
    # sigmoid'(x) = e^-|x| / (1 + e^-|x|)^2, written so it never overflows.
    e = np.exp(-np.abs(data))
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, e / (1 + e) ** 2, rtol=1e-12, atol=0)


# ---- non-differentiable dtypes --------------------------------------------------

def test_integer_inputs_get_no_gradient() -> None:
    i, x = graphc.tensor([1, 2, 3]), as_f64([1.0, 2.0, 3.0])
    gi, gx = grad((i.astype("float64") * x).sum(), [i, x])
    assert gi is None
    np.testing.assert_array_equal(gx.numpy(), [1.0, 2.0, 3.0])


def test_integer_and_bool_intermediates_cut_the_gradient() -> None:
    x = as_f64([0.5, -1.5])
    y = (x > 0).astype("float64") * 3.0 + F.floor(x).astype("int32").astype("float64")
    assert grad(y.sum(), x) is None


@pytest.mark.parametrize("make", [lambda x: F.argmax(x), lambda x: x > 1.0,
                                  lambda x: x.astype("int32").sum()],
                         ids=["argmax", "greater", "int_sum"])
def test_gradient_of_an_integer_or_bool_output_is_an_error(make) -> None:
    x = as_f64([1.0, 2.0])
    y = make(x)
    with pytest.raises(graphc.DTypeError, match=f"{y._node.op}.*not differentiable"):
        grad(y, x)


def test_unwanted_input_gradients_are_not_built():
    from graphc.ops import apply as apply_op
    from tests.autodiff.gradcheck import vjp_with_built_nodes

    x = graphc.tensor(np.array([1.0, 2.0, 4.0], np.float32))._node
    c = graphc.tensor(np.array([3.0, 5.0, 7.0], np.float32))._node  # not differentiated
    g = graphc.tensor(np.array([1.0, 1.0, 2.0], np.float32))._node
    for op, want in (("mul", [3.0, 5.0, 14.0]), ("div", [1 / 3, 1 / 5, 2 / 7]),
                     ("sub", [1.0, 1.0, 2.0])):
        y = apply_op(op, [x, c])
        (gx,), built = vjp_with_built_nodes([y], [g], [x])
        assert len(built) <= 1, (op, [n.op for n in built])  # nothing for c's gradient
        np.testing.assert_allclose(graphc.Tensor._wrap(gx).numpy(), want, rtol=1e-6)


def test_logsoftmax_gradient_does_not_go_through_the_shift():
    import graphc.functional as F
    from graphc.ir import topo_order

    z = np.array([[1.0, 2.0, 0.5], [1000.0, 999.0, -3.0]], np.float32)
    w = np.array([[1.0, 0.0, 2.0], [0.5, -1.0, 1.0]], np.float32)
    x = graphc.tensor(z)
    (gx,) = graphc.grad((F.logsoftmax(x, 1) * graphc.tensor(w)).sum(), [x])
    ops = {n.op for n in topo_order([gx._node])}
    assert "equal" not in ops  # no gradient of the row maximum is built
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(gx.numpy(), w - p * w.sum(1, keepdims=True), rtol=1e-5,
                               atol=1e-6)
