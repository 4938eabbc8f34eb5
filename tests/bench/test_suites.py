"""The built-in suites of ``graphc bench`` (graphc/bench/suites.py) at their quick sizes:
every system each suite writes agrees with graphc on the first call (identical inputs
and initial weights), through the measurement child's own check, run here in-process.
The training suites of the large models are left to ``graphc bench all --quick``."""

from __future__ import annotations

import importlib.util

import numba
import pytest

from graphc.bench import child
from graphc.bench.case import PROVIDER
from graphc.bench.suites import SUITES

CHEAP = ["elementwise", "reduction", "softmax", "layernorm", "attention", "mlp-train",
         "lenet-train"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CHEAP)
def test_every_system_of_the_suite_agrees_with_graphc(name):
    systems = ["graphc", "numpy", "torch", "jax"]
    result = child.measure(name, systems, quick=True, device="cpu",
                           threads=numba.get_num_threads(), rounds=1, profile=False)
    for system in systems:
        r = result["systems"][system]
        provided = hasattr(SUITES[name], PROVIDER[system])
        if importlib.util.find_spec(system) is None:
            assert r["status"] == "not installed"
        elif not provided:
            assert r["status"] == "not provided"
        else:
            assert r["status"] == "ok", (system, r)
            assert r["steady"]["median"] > 0


def test_the_suites_are_the_issue_s_targets():
    assert list(SUITES) == ["elementwise", "reduction", "softmax", "layernorm", "attention",
                            "mlp-train", "lenet-train", "resnet18-train", "shufflenet-train",
                            "bert-train"]
