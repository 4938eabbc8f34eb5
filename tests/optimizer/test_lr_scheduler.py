"""LR schedulers give their documented closed-form values (MegEngine's MultiStepLR rule
``base * gamma ** bisect_right(milestones, epoch)``; StepLR and CosineAnnealingLR as
PyTorch documents them)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import graphc.optimizer as optim


def _opt(lr: float = 1.0, groups: int = 1) -> optim.SGD:
    return optim.SGD([{"params": [graphc.Parameter([0.])], "lr": lr * (i + 1)}
                      for i in range(groups)], lr=lr)


def _lrs(opt, sched, epochs: int) -> list[list[float]]:
    out = []
    for _ in range(epochs):
        out.append([g["lr"] for g in opt.param_groups])
        sched.step()
    return out


def test_multistep_lr() -> None:
    opt = _opt(0.5, groups=2)
    sched = optim.MultiStepLR(opt, milestones=[2, 5], gamma=0.1)
    got = _lrs(opt, sched, 7)
    want = [[base * 0.1 ** sum(e >= m for m in (2, 5)) for base in (0.5, 1.0)]
            for e in range(7)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.5, 1.0]


def test_step_lr() -> None:
    opt = _opt(0.2)
    got = _lrs(opt, optim.StepLR(opt, step_size=3, gamma=0.5), 8)
    assert [lr for lr, in got] == pytest.approx([0.2 * 0.5 ** (e // 3) for e in range(8)])


def test_cosine_annealing_lr() -> None:
    opt = _opt(0.1)
    got = _lrs(opt, optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.01), 5)
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert [lr for lr, in got] == pytest.approx(want)
    assert got[0][0] == pytest.approx(0.1) and got[4][0] == pytest.approx(0.01)


def test_step_with_explicit_epoch_and_get_lr() -> None:
    opt = _opt(1.0)
    sched = optim.MultiStepLR(opt, milestones=[3], gamma=0.5)
    sched.step(epoch=10)
    assert sched.get_lr() == [0.5] and opt.param_groups[0]["lr"] == 0.5


def test_resuming_needs_initial_lr() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        optim.StepLR(_opt(), step_size=2, current_epoch=4)


def test_scheduler_state_dict_round_trip() -> None:
    opt = _opt(1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved
    other = optim.StepLR(_opt(1.0), step_size=2, gamma=0.5)
    other.load_state_dict(saved)
    other.step()
    sched.step()
    assert other.get_lr() == sched.get_lr() == [0.25]


@pytest.mark.parametrize("make, match", [
    (lambda o: optim.MultiStepLR(o, milestones=[5, 2]), "increasing"),
    (lambda o: optim.StepLR(o, step_size=0), "step_size"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), "T_max"),
])
def test_bad_arguments(make, match) -> None:
    with pytest.raises(ValueError, match=match):
        make(_opt())


def test_needs_an_optimizer() -> None:
    with pytest.raises(TypeError, match="Optimizer"):
        optim.StepLR(object(), step_size=1)
