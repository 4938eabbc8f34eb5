"""Adam and AdamW against the NumPy reference written from MegEngine's formulas."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import graphc
import graphc.optimizer as optim
from graphc.runtime import compiler
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
    steps = [opt.state[p]["step"] for p in (a, b)]
    assert all(isinstance(t, graphc.Tensor) and t.shape == () and t.dtype == np.float32
               for t in steps)  # MegEngine's layout: a float32 0-d tensor
    assert [t.item() for t in steps] == [1.0, 0.0]
    assert b.numpy().tolist() == [2.0]  # no gradient: left alone


@pytest.mark.parametrize("betas", [(1.0, 0.9), (0.9, -0.1)])
def test_adam_rejects_bad_betas(betas) -> None:
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([graphc.Parameter([1.])], lr=0.1, betas=betas)


def test_lazy_adam_compiles_one_program_for_20_steps(monkeypatch) -> None:
    # The step count and bias corrections live in the graph: step 20 is step 1's Program
    # (a step is not made of exact ops, so even a tiny one compiles at its first sighting),
    # also across an lr change, and each step still matches the reference.
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    monkeypatch.setattr(compiler, "_programs", OrderedDict())
    monkeypatch.setattr(compiler, "_sightings", {})
    before = dict(compiler.stats)
    run_against_reference(lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
                          RefAdam(SHAPES, lr=0.01, weight_decay=0.1), steps=20,
                          new_lr_at=(7, 0.02))
    runs = {k: compiler.stats[k] - before[k]
            for k in ("programs_compiled", "program_hits", "interpreted")}
    assert runs == {"programs_compiled": 1, "program_hits": 19, "interpreted": 0}


def test_float16_parameters_take_float32_bias_corrections() -> None:
    rng = np.random.default_rng(2)
    init = rng.standard_normal(4).astype(np.float16)
    w = graphc.Parameter(init)
    opt = optim.Adam([w], lr=0.01, betas=(0.8, 0.99))
    ref, ref_w = RefAdam([init], lr=0.01, betas=(0.8, 0.99)), [init.astype(np.float64)]
    for _ in range(5):
        g = rng.standard_normal(4).astype(np.float16)
        w.grad = graphc.tensor(g)
        opt.step()
        ref.step(ref_w, [g.astype(np.float64)])
    assert w.dtype == np.float16 and opt.state[w]["step"].dtype == np.float32
    assert opt.state[w]["exp_avg"].dtype == np.float16
    np.testing.assert_allclose(w.numpy(), ref_w[0], rtol=2e-3, atol=2e-3)
