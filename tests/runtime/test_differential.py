"""Differential testing: random graphs compiled by graphc equal the reference interpreter.

Hypothesis builds graphs from elementwise ops with broadcasting, reductions over random
axes, movement ops, matmul and mixed dtypes; each graph is compiled (never interpreted)
and compared with graphc.interp within dtype tolerance.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc
import graphc.functional as F
import graphc.ir
from tests.runtime.compiled import assert_same

UNARY = [F.exp, F.tanh, F.sigmoid, F.abs, F.neg, lambda x: F.sqrt(F.abs(x)),
         lambda x: F.log(F.abs(x) + 1), F.relu, F.erf, lambda x: F.gelu(x, "tanh"),
         lambda x: x * x, lambda x: F.clip(x, -0.5, 0.5), F.floor]
BINARY = [F.add, F.sub, F.mul, F.maximum, F.minimum,
          lambda a, b: a / (F.abs(b) + 1), lambda a, b: F.where(a > b, a, b * 0.5)]


@st.composite
def graphs(draw):
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float64, np.float16]))

    def leaf(s):
        return graphc.tensor(rng.standard_normal(s).astype(dtype))

    values = [leaf(shape)]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "bcast", "reduce", "move", "matmul",
                                     "cast"]))
        x = draw(st.sampled_from(values))
        if kind == "unary":
            values.append(draw(st.sampled_from(UNARY))(x))
        elif kind == "binary":
            y = draw(st.sampled_from(values))
            if _broadcastable(x.shape, y.shape):
                values.append(draw(st.sampled_from(BINARY))(x, y))
        elif kind == "bcast" and x.ndim:
            # a bias-like operand over the trailing axes
            k = draw(st.integers(1, x.ndim))
            values.append(draw(st.sampled_from(BINARY))(x, leaf(x.shape[-k:])))
        elif kind == "reduce" and x.ndim:
            axes = draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim,
                                 unique=True))
            keep = draw(st.booleans())
            op = draw(st.sampled_from(["sum", "max", "mean", "min", "softmax", "logsumexp"]))
            if op == "softmax":
                values.append(F.softmax(x, axis=axes[0]))
            elif op == "logsumexp":
                values.append(F.logsumexp(x, axis=axes[0], keepdims=keep))
            else:
                values.append(getattr(F, op)(x, axis=tuple(axes), keepdims=keep))
        elif kind == "move" and x.ndim:
            move = draw(st.sampled_from(["T", "flat", "slice", "expand", "flip"]))
            if move == "T":
                values.append(x.T + 1)
            elif move == "flat":
                values.append(x.reshape(-1) * 2)
            elif move == "slice":
                values.append(x[..., ::2] - 1)
            elif move == "flip":
                values.append(x[::-1] * x)
            else:
                values.append(F.expand_dims(x, 0) * leaf((2,) + x.shape))
        elif kind == "matmul" and x.ndim == 2:
            values.append(F.relu(x @ leaf((x.shape[1], 3)) + leaf((3,))))
        elif kind == "cast":
            values.append((x > 0).astype(x.dtype) * x)
    outputs = draw(st.lists(st.sampled_from(values[1:] or values), min_size=1, max_size=2,
                            unique_by=id))
    return outputs


def _broadcastable(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs())
def test_compiled_equals_interpreter(outputs):
    assert_same(*outputs)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from(["argmax", "argmin"]),
       st.integers(0, 1), st.booleans())
def test_arg_reductions_match_numpy_ties_and_nan(rows, cols, op, axis, with_nan):
    rng = np.random.default_rng(rows * 7 + cols)
    data = rng.integers(0, 3, (rows, cols)).astype(np.float32)  # many ties
    if with_nan:
        data[rng.integers(0, rows), rng.integers(0, cols)] = np.nan
    x = graphc.tensor(data)
    assert_same(getattr(F, op)(x, axis=axis), getattr(F, op)(x))


def test_nan_and_inf_propagate_through_fused_kernels():
    data = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 0.0], [2.0, 2.0, -1.0]], np.float32)
    x = graphc.tensor(data)
    assert_same(F.softmax(x, axis=1), x.max(axis=1), x.min(axis=0), (x * 0).sum(axis=1),
                F.logsumexp(x, axis=1))


def test_integer_and_bool_graphs():
    rng = np.random.default_rng(1)
    a = graphc.tensor(rng.integers(-5, 5, (4, 5)))
    b = graphc.tensor(rng.integers(1, 4, (5,)))
    assert_same(a * b + 3, a // b, a % b, (a > 0).sum(axis=1), F.maximum(a, b).max(axis=0),
                ((a > 0) & (b > 1)).astype("int32").sum())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs())
def test_compiled_gradients_equal_interpreted_gradients(outputs):
    """The backward graph of random forward graphs, compiled vs interpreted."""
    leaves = [n for n in graphc.ir.topo_order([o._node for o in outputs])
              if n.op == "buffer" and np.issubdtype(n.type.dtype, np.floating)]
    floats = [o for o in outputs if np.issubdtype(o.dtype, np.floating)]
    if not leaves or not floats:
        return
    loss = floats[0].sum()
    for extra in floats[1:]:
        loss = loss + (extra * extra).sum()
    xs = [graphc.Tensor._wrap(n) for n in leaves]
    grads = [g for g in graphc.grad(loss, xs) if g is not None]
    if grads:
        assert_same(*grads)


def test_gradient_of_a_max_over_a_recomputed_expression():
    """The max of ``x*x + c`` and its gradient recompute ``x*x + c`` in separate passes of
    one kernel; both passes must round alike, or ``x == max`` misses (regression: FMA
    contraction in one loop only lost the gradient of the max)."""
    x = graphc.tensor(np.array(
        [[[0.1257302165], [-0.1321048588], [0.6404226422], [0.1049001142]],
         [[-0.5356693864], [0.3615950644], [1.3040000200], [0.9470809698]],
         [[-0.7037352324], [-1.2654215097], [-0.6232744455], [0.0413259789]]], np.float32))
    c = graphc.tensor(np.array([-2.3250308037], np.float32))
    square = x * x
    loss = F.max(square + c, axis=0).sum() + (square * square).sum()
    grads = graphc.grad(loss, [x, c])
    assert_same(*grads)
    np.testing.assert_array_equal(grads[1].numpy(), [4.0])  # one maximum per column
