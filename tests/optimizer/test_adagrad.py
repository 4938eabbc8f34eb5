"""Adagrad against the NumPy reference written from MegEngine's formulas."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.optimizer as optim
from tests.optimizer.reference import RefAdagrad, run_against_reference

SHAPES = [np.zeros((3, 2)), np.zeros(2)]


@pytest.mark.parametrize("options", [{}, {"lr_decay": 0.1}, {"weight_decay": 0.05},
                                     {"eps": 1e-2}],
                         ids=["plain", "lr_decay", "weight_decay", "eps"])
def test_adagrad_matches_reference(options) -> None:
    run_against_reference(lambda ps: optim.Adagrad(ps, lr=0.1, **options),
                          RefAdagrad(SHAPES, lr=0.1, **options))


def test_adagrad_lr_change_mid_run() -> None:
    run_against_reference(lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.05),
                          RefAdagrad(SHAPES, lr=0.1, lr_decay=0.05), new_lr_at=(3, 0.5))


def test_adagrad_defaults_are_megengines() -> None:
    group = optim.Adagrad([graphc.Parameter([1.])]).param_groups[0]
    assert (group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]) == \
        (0.01, 0.0, 1e-10, 0.0)


def test_adagrad_rejects_negative_eps() -> None:
    with pytest.raises(ValueError, match="eps"):
        optim.Adagrad([graphc.Parameter([1.])], eps=-1.0)
