"""The demo's training runs: accuracy on held-out digits, and no recompilation.

Both models train with compiled graphs (the path ``make demo`` takes) from a fixed seed.
"""

import pytest

from graphc import demo


@pytest.mark.parametrize("kind, target", [("mlp", 0.97), ("cnn", 0.98)])
def test_training_reaches_target_accuracy_without_recompiling(monkeypatch, kind, target):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    result = demo.train(kind, verbose=False)
    assert result["accuracy"] >= target, result
    # Every step after the first epoch reuses the step's Program.
    assert result["compiles_after_first_epoch"] == 0, result
    assert result["kernels_per_step"] > 0


def test_same_seed_gives_the_same_accuracy(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    a = demo.train("mlp", epochs=2, verbose=False)
    b = demo.train("mlp", epochs=2, verbose=False)
    assert a["accuracy"] == b["accuracy"]
