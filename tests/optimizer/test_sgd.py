"""SGD against the NumPy reference written from MegEngine's formulas."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.optimizer as optim
from tests.optimizer.reference import RefSGD, run_against_reference

OPTIONS = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"weight_decay": 0.05},
    {"momentum": 0.5, "nesterov": True, "weight_decay": 0.01},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_sgd_matches_reference(options) -> None:
    run_against_reference(lambda ps: optim.SGD(ps, lr=0.1, **options),
                          RefSGD([np.zeros((3, 2)), np.zeros(2)], lr=0.1, **options))


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9, "nesterov": True}],
                         ids=["plain", "nesterov"])
def test_sgd_lr_change_mid_run(options) -> None:
    run_against_reference(lambda ps: optim.SGD(ps, lr=0.1, **options),
                          RefSGD([np.zeros((3, 2)), np.zeros(2)], lr=0.1, **options),
                          new_lr_at=(3, 0.025))


def test_lr_of_one_is_an_ordinary_value() -> None:
    # 1.0 is special for structural keys when it is a literal; it must still update right.
    run_against_reference(lambda ps: optim.SGD(ps, lr=1.0, momentum=0.5),
                          RefSGD([np.zeros((3, 2)), np.zeros(2)], lr=1.0, momentum=0.5),
                          steps=3, new_lr_at=(1, 0.0))


def test_nesterov_needs_momentum() -> None:
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([graphc.Parameter([1.])], lr=0.1, nesterov=True)


def test_negative_hyper_parameters_are_rejected() -> None:
    p = graphc.Parameter([1.])
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([p], lr=0.1, momentum=-0.5)


def test_float16_parameters_stay_float16() -> None:
    p = graphc.Parameter(np.array([1.0, 2.0], np.float16))
    p.grad = graphc.tensor(np.array([0.5, 0.5], np.float16))
    optim.SGD([p], lr=0.5, momentum=0.9).step()
    assert p.dtype == np.float16
    np.testing.assert_allclose(p.numpy(), [0.75, 1.75])
