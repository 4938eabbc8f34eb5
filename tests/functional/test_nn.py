"""Neural-network functions (graphc/functional/nn.py) against NumPy references: activations,
logsumexp, softmax and logsoftmax, including their default axes and NaN/Inf behaviour."""

import math

import numpy as np
import pytest

import graphc
import graphc.functional as F

RNG = np.random.default_rng(2)


def check(actual: graphc.Tensor, expected: np.ndarray, rtol: float = 1e-6, atol: float = 0):
    """Value, dtype and shape of ``actual`` equal NumPy's ``expected``."""
    got = actual.numpy()
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def randn(*shape):
    return (RNG.standard_normal(shape) * 2).astype(np.float32)


# ---- activations ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(), (0,), (3, 4)])
def test_relu(shape):
    x = randn(*shape)
    check(F.relu(graphc.tensor(x)), np.maximum(x, np.float32(0)))


def test_relu_of_ints_and_nan():
    ints = np.array([-2, 0, 3], np.int32)
    check(F.relu(graphc.tensor(ints)), np.maximum(ints, 0).astype(np.int32))
    x = np.array([np.nan, -np.inf, np.inf], np.float32)
    check(F.relu(graphc.tensor(x)), np.maximum(x, np.float32(0)))


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu(slope):
    x = randn(3, 5)
    check(F.leaky_relu(graphc.tensor(x), slope), np.where(x > 0, x, x * np.float32(slope)))


def test_leaky_relu_default_slope():
    x = np.array([-100.0, -1.0, 0.0, 2.0], np.float32)
    check(F.leaky_relu(graphc.tensor(x)), np.where(x > 0, x, x * np.float32(0.01)))


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    erf = np.array([math.erf(v / math.sqrt(2.0)) for v in x.ravel().tolist()]).reshape(x.shape)
    return (x * 0.5 * (1.0 + erf)).astype(np.float32)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    inner = math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64 ** 3)
    return (0.5 * x64 * (1.0 + np.tanh(inner))).astype(np.float32)


@pytest.mark.parametrize("shape", [(), (0,), (4, 5)])
def test_gelu_erf_form(shape):
    x = randn(*shape)
    check(F.gelu(graphc.tensor(x)), _gelu_erf(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(), (4, 5)])
def test_gelu_tanh_form(shape):
    x = randn(*shape)
    check(F.gelu(graphc.tensor(x), approximate="tanh"), _gelu_tanh(x), rtol=1e-5, atol=1e-6)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu"):
        F.gelu(graphc.tensor([1.0]), approximate="sigmoid")


# ---- logsumexp --------------------------------------------------------------------------

def _logsumexp(x: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """Reference in float64: the max-shifted formula, a shift of 0 for infinite maxima."""
    x64 = x.astype(np.float64)
    m = np.max(x64, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(np.sum(np.exp(x64 - m), axis=axis, keepdims=True)) + m
    return (out if keepdims else np.squeeze(out, axis=axis)).astype(np.float32)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_logsumexp_every_axis(axis, keepdims):
    x = randn(2, 3, 4)
    check(F.logsumexp(graphc.tensor(x), axis, keepdims), _logsumexp(x, axis, keepdims),
          rtol=1e-5, atol=1e-6)


def test_logsumexp_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.5], [1000.0, -1000.0]], np.float32)
    got = F.logsumexp(graphc.tensor(x), 1)
    expected = np.array([1000 + math.log(2.0), -1000 + math.log(1 + math.exp(-0.5)), 1000.0],
                        np.float32)
    check(got, expected, rtol=1e-6)


def test_logsumexp_of_infinite_rows():
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [-np.inf, 2.0], [np.nan, 1.0]], np.float32)
    got = F.logsumexp(graphc.tensor(x), 1)
    check(got, _logsumexp(x, 1))
    # A row of -inf is log(0) = -inf, not NaN.
    assert got.numpy()[0] == -np.inf and got.numpy()[1] == np.inf


def test_logsumexp_of_0d_and_empty():
    check(F.logsumexp(graphc.tensor(3.0), 0), np.float32(3.0))
    empty = np.zeros((0, 3), np.float32)
    check(F.logsumexp(graphc.tensor(empty), 1), np.zeros((0,), np.float32))


# ---- softmax / logsoftmax ----------------------------------------------------------------

def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The same max-shifted formula in float64, so NaN and Inf follow the same rules."""
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        e = np.exp(x64 - np.max(x64, axis=axis, keepdims=True))
        return (e / np.sum(e, axis=axis, keepdims=True)).astype(np.float32)


def _logsoftmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Wholly in float64 (x - shift - log(sum(exp(x - shift)))), rounded once at the end."""
    x64 = x.astype(np.float64)
    m = np.max(x64, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        shifted = x64 - m
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return out.astype(np.float32)


# MegEngine's rule without an axis: 0 for ndim in {0, 1, 3}, else 1.
DEFAULT_AXIS = {0: 0, 1: 0, 2: 1, 3: 0, 4: 1}


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_softmax_and_logsoftmax_default_axis(ndim):
    x = randn(*(2, 3, 4, 2)[:ndim])
    axis = DEFAULT_AXIS[ndim]
    check(F.softmax(graphc.tensor(x)), _softmax(x, axis), rtol=1e-5, atol=1e-7)
    check(F.logsoftmax(graphc.tensor(x)), _logsoftmax(x, axis), rtol=1e-5, atol=1e-6)


def test_softmax_of_0d_is_one():
    check(F.softmax(graphc.tensor(0.5)), np.float32(1.0))
    check(F.logsoftmax(graphc.tensor(0.5)), np.float32(0.0))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_explicit_axis(axis):
    x = randn(2, 3, 4)
    got = F.softmax(graphc.tensor(x), axis)
    check(got, _softmax(x, axis), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.numpy().sum(axis=axis), 1.0, rtol=1e-6)
    check(F.logsoftmax(graphc.tensor(x), axis), _logsoftmax(x, axis), rtol=1e-5, atol=1e-6)


def test_softmax_is_stable_for_large_inputs():
    x = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -1001.0]], np.float32)
    got = F.softmax(graphc.tensor(x), 1)
    assert np.isfinite(got.numpy()).all()
    check(got, _softmax(x, 1), rtol=1e-6, atol=1e-30)
    check(F.logsoftmax(graphc.tensor(x), 1), _logsoftmax(x, 1), rtol=1e-6)


def test_softmax_nan_and_inf_follow_the_max_shifted_formula():
    x = np.array([[np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.nan, 1.0, 2.0],
                  [-np.inf, 0.0, 1.0]], np.float32)
    check(F.softmax(graphc.tensor(x), 1), _softmax(x, 1), atol=1e-7)
    check(F.logsoftmax(graphc.tensor(x), 1), _logsoftmax(x, 1), atol=1e-6)


def test_softmax_of_ints_is_float32():
    x = np.array([[1, 2, 3]], np.int32)
    check(F.softmax(graphc.tensor(x)), _softmax(x.astype(np.float32), 1), rtol=1e-6)


def test_composite_functions_record_the_callers_line_on_every_node():
    import inspect

    from graphc.ir import Graph, topo_order
    from graphc.passes import PASSES

    x, w, b = (graphc.tensor(randn(*s)) for s in ((2, 3), (4, 3), (4,)))
    line = inspect.currentframe().f_lineno + 1
    out = F.cross_entropy(F.linear(x, w, b), graphc.tensor(np.array([1, 3], np.int32)))
    built = [n for n in topo_order([out._node]) if n.inputs]
    assert [n.op for n in built] == ["linear", "cross_entropy"]  # composite ops
    # Their expansion, built when the graph compiles, still points at the user's line.
    # (Nodes built from constants alone are hash-consed with identical nodes another
    # test may have built first, with that test's line: only those reading data count.)
    reads_data: set[int] = set()
    expanded = []
    for n in topo_order(PASSES["lower"](Graph((out._node,))).outputs):
        if n.op == "buffer" or any(i.uid in reads_data for i in n.inputs):
            reads_data.add(n.uid)
            if n.inputs:
                expanded.append(n)
    assert len(expanded) > 10
    assert {n.meta.location for n in expanded} == {f"test_nn.py:{line}"}
