"""@graphc.jit: trace once per signature, replay; training steps; check mode; guards."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc import TraceError
from tests.jit.training import training_step

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 16, 6)).astype(np.float32)
Y = RNG.integers(0, 3, (20, 16)).astype(np.int32)


def train(jit: bool, steps: int = 20, lr_change_at: int | None = None):
    graphc.random.seed(3)
    net = M.Sequential(M.Linear(6, 8), M.ReLU(), M.Linear(8, 3))
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    step = training_step(net, opt, F.cross_entropy)
    fn = graphc.jit(step) if jit else step
    losses = []
    for i in range(steps):
        if i == lr_change_at:
            opt.param_groups[0]["lr"] = 0.01
        losses.append(fn(graphc.tensor(X[i]), graphc.tensor(Y[i])).item())
    return [p.numpy() for p in net.parameters()], losses, fn


def test_gradmanager_and_sgd_inside_jit_match_the_lazy_path_after_20_steps():
    want, want_losses, _ = train(jit=False)
    got, losses, fn = train(jit=True)
    assert fn.traces == 1
    assert losses == want_losses
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_changing_the_learning_rate_does_not_retrace_and_still_matches():
    want, _, _ = train(jit=False, steps=6, lr_change_at=3)
    got, _, fn = train(jit=True, steps=6, lr_change_at=3)
    assert fn.traces == 1  # lr is bound state, read from the group on every call
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_a_new_batch_size_retraces_once_then_hits_the_cache():
    @graphc.jit
    def f(x):
        return (x * x).sum(axis=1)

    for batch in (4, 4, 9, 9, 9, 4):
        a = RNG.standard_normal((batch, 3)).astype(np.float32)
        np.testing.assert_allclose(f(a).numpy(), (a * a).sum(axis=1), rtol=1e-6)
    assert f.traces == 2 and f.stats["signatures"] == 2


def test_static_arguments_are_part_of_the_signature():
    @graphc.jit
    def f(x, power, flags):
        return x ** power if flags["pow"] else x

    a = np.array([2., 3.], np.float32)
    np.testing.assert_array_equal(f(a, 2, {"pow": True}).numpy(), [4., 9.])
    np.testing.assert_array_equal(f(a, 3, {"pow": True}).numpy(), [8., 27.])
    np.testing.assert_array_equal(f(a, 3, {"pow": False}).numpy(), [2., 3.])
    np.testing.assert_array_equal(f(a, 2, {"pow": True}).numpy(), [4., 9.])
    assert f.traces == 3


def test_outputs_may_be_tuples_lists_and_dicts_and_the_body_is_not_rerun():
    calls = []

    @graphc.jit
    def f(x, y):
        calls.append(1)
        return {"sum": x + y, "both": [x * 2, (y * 3, None)]}

    a, b = np.ones(2, np.float32), np.full(2, 2, np.float32)
    for _ in range(3):
        out = f(a, b)
    assert len(calls) == 1
    np.testing.assert_array_equal(out["sum"].numpy(), [3., 3.])
    np.testing.assert_array_equal(out["both"][0].numpy(), [2., 2.])
    np.testing.assert_array_equal(out["both"][1][0].numpy(), [6., 6.])
    assert out["both"][1][1] is None
    assert f.output_names == ["sum", "both[0]", "both[1][0]"]
    assert f.input_names == ["x", "y"]


def test_check_mode_names_the_first_op_where_control_flow_changed():
    mode = {"relu": True}

    @graphc.jit(check=True)
    def f(x):
        y = x * 2
        return F.relu(y) if mode["relu"] else F.sigmoid(y)

    a = np.array([-1., 1.], np.float32)
    np.testing.assert_array_equal(f(a).numpy(), [0., 2.])
    np.testing.assert_array_equal(f(a).numpy(), [0., 2.])  # same path: fine
    mode["relu"] = False
    with pytest.raises(TraceError, match=r"different path.*op \d+ was relu.*now sigmoid"):
        f(a)
    assert f.traces == 1


def test_check_mode_raises_before_the_call_updates_state():
    mode = {"add": True}
    total = graphc.Parameter([0., 0.])

    @graphc.jit(check=True)
    def f(x):
        total[...] = total + x if mode["add"] else total - x
        return total

    a = np.array([1., 2.], np.float32)
    f(a)
    mode["add"] = False
    with pytest.raises(TraceError, match=r"different path"):
        f(a)
    np.testing.assert_array_equal(total.numpy(), [1., 2.])


def test_without_check_a_changed_path_replays_the_trace():
    mode = {"relu": True}

    @graphc.jit
    def f(x):
        return F.relu(x) if mode["relu"] else F.sigmoid(x)

    a = np.array([-1., 1.], np.float32)
    f(a)
    mode["relu"] = False
    np.testing.assert_array_equal(f(a).numpy(), [0., 1.])  # the classic pitfall


def test_dropout_masks_differ_per_call_and_repeat_with_the_seed():
    def body(x):
        return F.dropout(x, 0.5)

    fn = graphc.jit(body)
    ones = np.ones(256, np.float32)
    graphc.random.seed(11)
    masks = [fn(ones).numpy() for _ in range(3)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    graphc.random.seed(11)
    lazy = [body(graphc.tensor(ones)).numpy() for _ in range(3)]
    for m, w in zip(masks, lazy):
        np.testing.assert_array_equal(m, w)  # the same draws as the lazy path


def test_parameters_changed_outside_are_seen_inside():
    w = graphc.Parameter([1., 1.])

    @graphc.jit
    def f(x):
        return x * w

    a = np.array([2., 3.], np.float32)
    np.testing.assert_array_equal(f(a).numpy(), [2., 3.])
    w.grad = graphc.tensor([1., -1.])
    optim.SGD([w], lr=1.0).step()
    np.testing.assert_array_equal(f(a).numpy(), [0., 6.])
    assert f.traces == 1


def test_values_stored_outside_the_function_are_kept_up_to_date():
    class Counter:
        def __init__(self):
            self.total = graphc.tensor(0.0)
            self.last = None

    c = Counter()

    @graphc.jit
    def f(x):
        c.total += x.sum()  # a mutation through rebind: written back after each call
        c.last = x * 10     # a traced value stored on an object: kept up to date too
        return c.total

    for k in range(1, 4):
        out = f(np.full(2, k, np.float32))
    assert out.item() == c.total.item() == 12.0
    np.testing.assert_array_equal(c.last.numpy(), [30., 30.])


def test_jit_works_on_methods():
    class Scale(M.Module):
        def __init__(self):
            super().__init__()
            self.w = graphc.Parameter([2.])

        @graphc.jit
        def apply(self, x):
            return x * self.w

    s = Scale()
    np.testing.assert_array_equal(s.apply(np.array([1., 2.], np.float32)).numpy(), [2., 4.])


def test_compiled_replay_and_stats(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")

    @graphc.jit
    def f(x, y):
        return F.relu(x * y + 1.0)

    a, b = np.array([1., -2.], np.float32), np.array([3., 4.], np.float32)
    for _ in range(3):
        out = f(a, b)
    np.testing.assert_array_equal(out.numpy(), [4., 0.])
    assert f.stats["kernels"] == 1 and f.stats["traces"] == 1
    assert f.compiled.output_nodes[0].op == "relu"
