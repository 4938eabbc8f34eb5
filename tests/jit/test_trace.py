"""Tracing: values are refused with clear errors, realization is deferred, state restored."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import TraceError


def test_numpy_inside_a_trace_is_a_clear_error_naming_the_line():
    @graphc.jit
    def f(x):
        print(x.numpy())
        return x

    with pytest.raises(TraceError, match=r"\.numpy\(\) at test_trace\.py:\d+ needs the value"):
        f(np.ones(2, np.float32))


def test_python_control_flow_on_a_tensor_value_is_a_clear_error():
    @graphc.jit
    def f(x):
        return x if x.sum() > 0 else -x

    with pytest.raises(TraceError, match=r"bool\(tensor\) \(an `if` or `while` on a tensor\)"):
        f(np.ones(2, np.float32))


def test_data_dependent_shapes_raise_with_a_hint():
    @graphc.jit
    def f(x):
        return x[x > 0]

    with pytest.raises(TraceError, match=r"shape depends on the data.*F\.where"):
        f(np.array([1., -1.], np.float32))


def test_explicit_realize_inside_a_trace_is_deferred_into_the_program():
    @graphc.jit
    def f(x):
        y = x * 3
        graphc.realize(y)  # nothing to compute yet: the Program computes it
        return y + 1

    for _ in range(2):
        np.testing.assert_array_equal(f(np.array([1., 2.], np.float32)).numpy(), [4., 7.])


def test_a_failed_trace_leaves_state_as_it_was():
    w = graphc.Parameter([1., 2.])

    @graphc.jit
    def f(x):
        w.grad = x * 1
        graphc.optimizer.SGD([w], lr=1.0).step()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        f(np.ones(2, np.float32))
    np.testing.assert_array_equal(w.numpy(), [1., 2.])
    assert w.grad is None


def test_pending_state_is_realized_before_tracing():
    w = graphc.Parameter([1., 2.])
    w += 1  # pending when the trace starts
    f = graphc.jit(lambda x: x * w)
    np.testing.assert_array_equal(f(np.ones(2, np.float32)).numpy(), [2., 3.])
    assert w._node.realized
    w += 1
    np.testing.assert_array_equal(f(np.ones(2, np.float32)).numpy(), [3., 4.])


def test_calling_a_compiled_function_inside_a_trace_is_refused():
    x = graphc.placeholder((2,), name="x")
    inner = graphc.function([x], x * 2)
    outer = graphc.jit(lambda t: inner(t))
    with pytest.raises(TraceError, match="cannot be called inside a traced function"):
        outer(np.ones(2, np.float32))


def test_nested_jit_functions_trace_inline():
    inner = graphc.jit(lambda t: F.relu(t))
    outer = graphc.jit(lambda t: inner(t) * 2)
    np.testing.assert_array_equal(outer(np.array([-1., 1.], np.float32)).numpy(), [0., 2.])
    assert inner.traces == 0 and outer.traces == 1
