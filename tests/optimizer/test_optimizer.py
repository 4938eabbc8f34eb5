"""The Optimizer base: parameter groups, state dicts, and how ``step()`` realizes.

Numbers are checked against closed forms or NumPy; compile counts come from
``graphc.runtime.compiler.stats``.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import lazy
from graphc.autodiff import GradManager
from graphc.ir import count_nodes
from graphc.runtime import compiler

# ---- a small model for realization tests ---------------------------------------------


def _regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    w = graphc.Parameter(rng.standard_normal((3, 2)).astype(np.float32))
    b = graphc.Parameter(np.zeros(2, np.float32))
    return x, y, w, b


def _loss(x, y, w, b):
    return F.mean(F.square(F.matmul(graphc.tensor(x), w) + b - graphc.tensor(y)))


def _numpy_loss(x, y, w, b):
    return float(np.mean((x @ w + b - y) ** 2))


def _train_step(gm, opt, x, y, w, b):
    with gm:
        loss = _loss(x, y, w, b)
        gm.backward(loss)
    opt.step().clear_grad()
    return loss


# ---- construction and groups ---------------------------------------------------------

def test_groups_get_defaults_and_overrides() -> None:
    a, b = graphc.Parameter([1.]), graphc.Parameter([2.])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.0, 0.9]
    assert opt.param_groups[1]["params"] == [b]
    assert "Parameter Group 1" in repr(opt) and "lr: 0.5" in repr(opt)


def test_each_group_uses_its_own_learning_rate() -> None:
    a, b = graphc.Parameter([1.]), graphc.Parameter([1.])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = graphc.tensor([2.])
    b.grad = graphc.tensor([2.])
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [1 - 0.1 * 2, 1 - 0.5 * 2], rtol=1e-6)


def test_add_param_group() -> None:
    a, b = graphc.Parameter([1.]), graphc.Parameter([1.])
    opt = optim.SGD([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    b.grad = graphc.tensor([1.])
    opt.step()
    assert b.item() == pytest.approx(0.99)
    with pytest.raises(ValueError, match="already belong"):
        opt.add_param_group({"params": [a]})


@pytest.mark.parametrize("params, error, match", [
    ([], ValueError, "empty"),
    ([graphc.tensor([1.])], TypeError, "Parameter"),
    ([graphc.Parameter([1, 2])], TypeError, "floating-point"),
])
def test_bad_parameter_lists(params, error, match) -> None:
    with pytest.raises(error, match=match):
        optim.SGD(params, lr=0.1)


def test_lr_is_required_for_sgd() -> None:
    with pytest.raises(ValueError, match="'lr'"):
        optim.SGD([graphc.Parameter([1.])])


# ---- step semantics ------------------------------------------------------------------

def test_step_returns_self_and_clear_grad_resets() -> None:
    w = graphc.Parameter([1., 2.])
    opt = optim.SGD([w], lr=0.1)
    w.grad = graphc.tensor([1., 1.])
    assert opt.step() is opt
    opt.clear_grad()
    assert w.grad is None


def test_step_skips_parameters_without_grad_and_leaves_grads_alone() -> None:
    a, b = graphc.Parameter([1.]), graphc.Parameter([5.])
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad = graphc.tensor([3.])
    opt.step()
    assert b.item() == 5.0
    assert a.grad.item() == 3.0  # step() does not modify .grad
    np.testing.assert_allclose(opt.state[b]["momentum_buffer"].numpy(), [0.0])


def test_zero_grad_fills_zeros_and_mixed_dtype_grads_keep_param_dtype() -> None:
    w = graphc.Parameter(np.array([1.0, 2.0], np.float16))
    opt = optim.SGD([w], lr=0.5)
    w.grad = graphc.tensor([1.0, -1.0])  # float32 gradient of a float16 parameter
    opt.step()
    assert w.dtype == np.float16
    np.testing.assert_array_equal(w.numpy(), [0.5, 2.5])
    opt.zero_grad()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    opt.step()
    np.testing.assert_array_equal(w.numpy(), [0.5, 2.5])


def test_gradients_accumulate_until_cleared() -> None:
    w = graphc.Parameter([0.])
    opt = optim.SGD([w], lr=1.0)
    gm = GradManager().attach(w)
    for _ in range(2):
        with gm:
            gm.backward(w * 3.0)
    opt.step()
    assert w.item() == pytest.approx(-6.0)


@pytest.mark.parametrize("backend", ["interp", "compiled"])
def test_training_matches_numpy_gradient_descent(backend, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_BACKEND", backend)
    x, y, w, b = _regression()
    w_ref, b_ref = w.numpy().astype(np.float64), b.numpy().astype(np.float64)
    opt = optim.SGD([w, b], lr=0.05, momentum=0.9)
    gm = GradManager().attach([w, b])
    vw, vb = np.zeros_like(w_ref), np.zeros_like(b_ref)
    for _ in range(5):
        _train_step(gm, opt, x, y, w, b)
        err = 2 * (x @ w_ref + b_ref - y) / y.size
        vw, vb = 0.9 * vw + x.T @ err, 0.9 * vb + err.sum(0)
        w_ref, b_ref = w_ref - 0.05 * vw, b_ref - 0.05 * vb
    np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), b_ref, rtol=1e-5, atol=1e-6)


def test_loss_held_across_step_keeps_pre_step_value() -> None:
    x, y, w, b = _regression()
    before = _numpy_loss(x, y, w.numpy(), b.numpy())
    opt = optim.SGD([w, b], lr=0.1)
    gm = GradManager().attach([w, b])
    with gm:
        loss = _loss(x, y, w, b)
        gm.backward(loss)
    held = loss
    opt.step()
    # Realized by step() itself, in the same Program as the update ...
    assert held._node.realized
    # ... with the parameters as they were before the step.
    assert held.item() == pytest.approx(before, rel=1e-5)
    assert _loss(x, y, w, b).item() < before


def test_state_tensors_are_rebound_in_place() -> None:
    w = graphc.Parameter([1.])
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    buf = opt.state[w]["momentum_buffer"]
    for g in (1.0, 2.0):
        w.grad = graphc.tensor([g])
        opt.step()
    assert opt.state[w]["momentum_buffer"] is buf
    assert buf.item() == pytest.approx(0.9 * 1.0 + 2.0)


def test_step_inside_grad_manager_recording() -> None:
    # A step between backward and the end of `with gm:` still updates correctly.
    w = graphc.Parameter([2.])
    opt = optim.SGD([w], lr=0.25)
    gm = GradManager().attach(w)
    with gm:
        gm.backward(w * w)
        opt.step()
    assert w.item() == pytest.approx(2.0 - 0.25 * 4.0)


# ---- one Program per step, no recompilation --------------------------------------------

def _count_compiles(monkeypatch, make_opt, steps: int, between=None):
    """Programs compiled by steps 4..steps (after warm-up) and executions per step."""
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    x, y, w, b = _regression()
    opt = make_opt([w, b])
    gm = GradManager().attach([w, b])
    losses = []
    executions = []
    compiled_after_warmup = None
    for i in range(steps):
        if i == 3:
            compiled_after_warmup = compiler.stats["programs_compiled"]
        before = sum(compiler.stats[k] for k in ("programs_compiled", "program_hits",
                                                 "interpreted"))
        loss = _train_step(gm, opt, x, y, w, b)
        losses.append(loss.item())
        executions.append(sum(compiler.stats[k] for k in ("programs_compiled", "program_hits",
                                                          "interpreted")) - before)
        if between is not None:
            between(opt, i)
    return compiler.stats["programs_compiled"] - compiled_after_warmup, executions, losses


def test_sgd_steps_compile_once_with_a_scheduler(monkeypatch) -> None:
    sched = {}

    def make(ps):
        opt = optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3)
        sched["s"] = optim.MultiStepLR(opt, milestones=[4, 6], gamma=0.5)
        return opt

    lrs = []
    new, executions, losses = _count_compiles(
        monkeypatch, make, 9, between=lambda opt, i: (sched["s"].step(),
                                                      lrs.append(opt.param_groups[0]["lr"])))
    assert len(set(lrs)) == 3  # the learning rate did change ...
    assert new == 0            # ... without compiling anything new
    assert executions == [1] * 9  # forward, backward, update and loss: one Program
    assert losses[-1] < losses[0]


def test_adam_bias_corrections_do_not_recompile(monkeypatch) -> None:
    new, executions, losses = _count_compiles(
        monkeypatch, lambda ps: optim.Adam(ps, lr=0.05, weight_decay=0.01), 8)
    assert new == 0 and executions == [1] * 8
    assert losses[-1] < losses[0]


def test_cosine_schedule_and_adamw_do_not_recompile(monkeypatch) -> None:
    sched = {}

    def make(ps):
        opt = optim.AdamW(ps, lr=0.05)
        sched["s"] = optim.CosineAnnealingLR(opt, T_max=5)
        return opt

    new, _, _ = _count_compiles(monkeypatch, make, 8, between=lambda o, i: sched["s"].step())
    assert new == 0


def test_lr_of_one_and_zero_reuse_the_program(monkeypatch) -> None:
    # 0 and ±1 literals are part of structural keys; hyper-parameters must not be.
    def between(opt, i):
        opt.param_groups[0]["lr"] = [1.0, 0.0, 0.1][i % 3]

    new, _, _ = _count_compiles(monkeypatch, lambda ps: optim.Adagrad(ps, lr=0.1), 8, between)
    assert new == 0


def test_graph_stays_bounded_over_1000_steps() -> None:
    x, y, w, b = _regression()
    opt = optim.SGD([w, b], lr=0.01, momentum=0.9)
    gm = GradManager().attach([w, b])
    sizes = []
    gc.collect()
    before = len(lazy.live_pending_tensors())  # what earlier tests in this process hold
    for i in range(1000):
        loss = _train_step(gm, opt, x, y, w, b)
        if i in (9, 999):
            gc.collect()
            state = [t for s in opt.state.values() for t in s.values()]
            sizes.append(count_nodes([t._node for t in (w, b, loss, *state)]))
            sizes.append(len(lazy.live_pending_tensors()))
    assert sizes[0] == sizes[2] and sizes[1] == sizes[3] == before
    assert sizes[0] <= 8  # every tensor is a realized leaf
    _, _, w0, b0 = _regression()
    assert loss.item() < _numpy_loss(x, y, w0.numpy(), b0.numpy()) / 2


# ---- state dicts ---------------------------------------------------------------------

def test_state_dict_layout_is_megengines() -> None:
    a, b = graphc.Parameter([1., 2.]), graphc.Parameter([3.])
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = graphc.tensor([1., 1.])
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sd["state"][0]["step"] == 1 and sd["state"][1]["step"] == 0
    assert sd["state"][0]["step"].dtype == np.float32 and sd["state"][0]["step"].shape == ()
    assert isinstance(sd["state"][0]["exp_avg"], np.ndarray)
    np.testing.assert_allclose(sd["state"][0]["exp_avg"], [0.1, 0.1], rtol=1e-6)
    assert isinstance(opt.state_dict(keep_var=True)["state"][0]["exp_avg"], graphc.Tensor)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.1, betas=(0.8, 0.9)),
    lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.5),
], ids=["sgd", "adam", "adagrad"])
def test_load_state_dict_resumes_exactly(make) -> None:
    # Also from the format older graphc saved, with step counts as Python ints: they
    # load as float32 0-d tensors and training resumes the same.
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(3).astype(np.float32) for _ in range(5)]
    w1 = graphc.Parameter(np.ones(3, np.float32))
    opt1 = make([w1])
    for g in grads[:3]:
        w1.grad = graphc.tensor(g)
        opt1.step()
    sd = opt1.state_dict()
    old = {"param_groups": sd["param_groups"],
           "state": {i: {k: int(v) if k == "step" else v for k, v in st.items()}
                     for i, st in sd["state"].items()}}
    resumed = []
    for saved in (sd, old):
        w = graphc.Parameter(w1.numpy())
        opt = make([w])
        opt.load_state_dict(saved)
        if "step" in sd["state"][0]:
            assert type(old["state"][0]["step"]) is int
            step = opt.state[w]["step"]
            assert isinstance(step, graphc.Tensor) and step.dtype == np.float32
            assert step.shape == () and step.item() == 3.0
        resumed.append((w, opt))
    for g in grads[3:]:
        for w, opt in [(w1, opt1)] + resumed:
            w.grad = graphc.tensor(g)
            opt.step()
    for w, _ in resumed:
        np.testing.assert_array_equal(w.numpy(), w1.numpy())


def test_load_state_dict_restores_hyper_parameters() -> None:
    w = graphc.Parameter([1.])
    opt = optim.SGD([w], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.25
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.25


def test_load_state_dict_mismatches_raise() -> None:
    a, b = graphc.Parameter([1.]), graphc.Parameter([2., 3.])
    two = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    one = optim.SGD([graphc.Parameter([1.]), graphc.Parameter([2., 3.])], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="parameter groups"):
        one.load_state_dict(two.state_dict())
    wrong_keys = two.state_dict()
    wrong_keys["param_groups"][0]["extra"] = 1
    with pytest.raises(ValueError, match="keys"):
        two.load_state_dict(wrong_keys)
    wrong_shape = two.state_dict()
    wrong_shape["state"][1]["momentum_buffer"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="shape"):
        two.load_state_dict(wrong_shape)
    with pytest.raises(ValueError, match="param_groups"):
        two.load_state_dict({"state": {}})


def test_step_realizes_tensors_rebound_to_pending_values() -> None:
    # State mutated every step (BatchNorm's running statistics, a counter) reads no
    # parameter, yet step() computes it too, so no graph chains from step to step.
    w = graphc.Parameter([1., 2.])
    opt = optim.SGD([w], lr=0.5)
    counter = graphc.tensor([0.])
    for step in range(3):
        counter += 1.0
        assert counter._node.buffer is None
        w.grad = graphc.tensor([1., 1.])
        opt.step()
        assert counter._node.buffer is not None
        np.testing.assert_array_equal(counter.numpy(), [step + 1.0])
    np.testing.assert_allclose(w.numpy(), [-0.5, 0.5])
