"""Tracing: values are refused with clear errors, realization is deferred, state restored;
optimizer state is bound (hyper-parameters, step counts), graph structure guarded."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc import TraceError
from tests.jit.training import training_step


def test_numpy_inside_a_trace_is_a_clear_error_naming_the_line():
    @graphc.jit
    def f(x):
        print(x.numpy())
        return x

    with pytest.raises(TraceError, match=r"\.numpy\(\) at test_capture\.py:\d+ needs the value"):
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


def test_a_pending_tensor_that_cannot_be_computed_does_not_break_an_unrelated_trace():
    from graphc.ir import OpError

    w = graphc.Parameter([1., 2.])
    w += 1  # pending, and computable
    bad = F.cross_entropy(graphc.tensor(np.zeros((2, 3), np.float32)),
                          graphc.tensor(np.array([0, 5], np.int32)))  # label 5 of 3
    f = graphc.jit(lambda x: x * w)
    np.testing.assert_array_equal(f(np.ones(2, np.float32)).numpy(), [2., 3.])
    assert w._node.realized and not bad._node.realized
    with pytest.raises(OpError, match="label 5 is out of bounds"):
        bad.numpy()  # the error is raised where the tensor is read


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


# ---- optimizer steps under a trace: hyper-parameters and step counts are bound state ----

RNG = np.random.default_rng(5)
X = RNG.standard_normal((20, 8, 4)).astype(np.float32)
Y = RNG.standard_normal((20, 8, 2)).astype(np.float32)


def train(make_opt, jit, steps=20, between=None):
    """Parameters, losses and the step function after ``steps`` calls of a regression
    step; ``between(opt, extra, i)`` runs before call ``i`` (``extra``: what make_opt
    returned besides the optimizer, e.g. a scheduler)."""
    graphc.random.seed(3)  # the same start for both paths
    net = M.Sequential(M.Linear(4, 6), M.ReLU(), M.Linear(6, 2))
    opt, extra = make_opt(net.parameters())
    step = training_step(net, opt)
    fn = graphc.jit(step) if jit else step
    losses = []
    for i in range(steps):
        if between is not None:
            between(opt, extra, i)
        losses.append(fn(graphc.tensor(X[i]), graphc.tensor(Y[i])).item())
    return [p.numpy() for p in net.parameters()], losses, fn, opt


def assert_same_training(make_opt, steps=20, between=None, traces=1):
    want, want_losses, _, lazy_opt = train(make_opt, False, steps, between)
    got, losses, fn, opt = train(make_opt, True, steps, between)
    assert fn.traces == traces
    assert losses == want_losses and losses[-1] < losses[0]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    return opt, lazy_opt


def test_a_jitted_adam_step_traces_once_over_20_calls_and_matches_the_lazy_path():
    opt, lazy_opt = assert_same_training(
        lambda ps: (optim.Adam(ps, lr=0.01, weight_decay=0.01), None))
    for p, lp in zip(opt.state, lazy_opt.state):  # the step count advanced in the Program
        assert float(opt.state[p]["step"]) == float(lazy_opt.state[lp]["step"]) == 20.0
        np.testing.assert_array_equal(opt.state[p]["exp_avg_sq"].numpy(),
                                      lazy_opt.state[lp]["exp_avg_sq"].numpy())


def test_a_jitted_sgd_step_picks_up_a_step_lr_schedule_without_retracing():
    lrs = []

    def make(ps):
        opt = optim.SGD(ps, lr=0.05, momentum=0.9)
        return opt, optim.StepLR(opt, step_size=4, gamma=0.5)

    def between(opt, sched, i):
        if i and i % 2 == 0:  # an "epoch" every 2 steps: lr halves at calls 8 and 16
            sched.step()
        lrs.append(opt.param_groups[0]["lr"])

    assert_same_training(make, between=between)
    assert sorted(set(lrs), reverse=True) == [0.05, 0.025, 0.0125]


def test_adagrad_and_adamw_hyper_parameters_change_between_jitted_calls():
    def make(ps):
        ps = list(ps)
        opt = optim.Adagrad(ps[:2], lr=0.1, lr_decay=0.05)
        opt.add_param_group({"params": ps[2:], "lr": 0.2})
        return opt, None

    def between(opt, _, i):
        opt.param_groups[0]["lr"] = 0.1 / (1 + i)
        opt.param_groups[1]["eps"] = 1e-3 * (i + 1)

    assert_same_training(make, steps=6, between=between)

    def between_w(opt, _, i):
        opt.param_groups[0]["betas"] = (0.9 - 0.05 * i, 0.99)
        opt.param_groups[0]["weight_decay"] = 0.01 * (i + 1)

    assert_same_training(lambda ps: (optim.AdamW(ps, lr=0.01), None), steps=6,
                         between=between_w)


def test_turning_weight_decay_on_retraces_once():
    # `if weight_decay:` shapes the graph: zero to non-zero is a new trace, values are not.
    def between(opt, _, i):
        opt.param_groups[0]["weight_decay"] = 0.0 if i < 3 else 0.01 * i

    assert_same_training(lambda ps: (optim.SGD(ps, lr=0.05), None), steps=6,
                         between=between, traces=2)
