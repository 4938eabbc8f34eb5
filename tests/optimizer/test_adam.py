"""Adam and AdamW against the NumPy reference written from MegEngine's formulas."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.optimizer as optim
from tests.optimizer.reference import RefAdam, run_against_reference

SHAPES = [np.zeros((3, 2)), np.zeros(2)]


@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1},
                                     {"betas": (0.5, 0.9), "eps": 1e-3}],
                         ids=["plain", "l2", "betas-eps"])
def test_adam_matches_reference(options) -> None:
    run_against_reference(lambda ps: optim.Adam(ps, lr=0.01, **options),
                          RefAdam(SHAPES, lr=0.01, **options))


def test_adam_lr_change_mid_run() -> None:
    run_against_reference(lambda ps: optim.Adam(ps, lr=0.01),
                          RefAdam(SHAPES, lr=0.01), new_lr_at=(2, 0.003))


@pytest.mark.parametrize("weight_decay", [0.01, 0.2])
def test_adamw_decouples_weight_decay(weight_decay) -> None:
    run_against_reference(lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=weight_decay),
                          RefAdam(SHAPES, lr=0.01, weight_decay=weight_decay, decoupled=True),
                          new_lr_at=(4, 0.02))


def test_adamw_default_weight_decay_is_megengines() -> None:
    opt = optim.AdamW([graphc.Parameter([1.])], lr=0.1)
    assert opt.param_groups[0]["weight_decay"] == 0.01


def test_adam_counts_steps_per_parameter() -> None:
    a, b = graphc.Parameter([1.]), graphc.Parameter([2.])
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = graphc.tensor([1.])
    opt.step()
    assert opt.state[a]["step"] == 1 and opt.state[b]["step"] == 0
    assert b.numpy().tolist() == [2.0]  # no gradient: left alone


@pytest.mark.parametrize("betas", [(1.0, 0.9), (0.9, -0.1)])
def test_adam_rejects_bad_betas(betas) -> None:
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([graphc.Parameter([1.])], lr=0.1, betas=betas)
