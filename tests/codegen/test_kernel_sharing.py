"""Kernels are keyed by structure, never by size or by the constants passes make (issue
19): a model of other widths and batch reuses every generated kernel of the first."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc.autodiff import GradManager
from graphc.codegen import cache


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


class _Net(M.Module):
    def __init__(self, sizes: tuple[int, int, int]) -> None:
        super().__init__()
        n_in, hidden, n_out = sizes
        self.fc1 = M.Linear(n_in, hidden)
        self.norm = M.LayerNorm(hidden)
        self.fc2 = M.Linear(hidden, n_out)

    def forward(self, x):
        return self.fc2(F.relu(self.norm(self.fc1(x))))


def _train_step(batch: int, sizes: tuple[int, int, int]) -> tuple[float, list[np.ndarray]]:
    rng = np.random.default_rng(batch)
    graphc.random.seed(batch)  # the same initial weights on either backend
    net = _Net(sizes)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    gm = GradManager().attach(net.parameters())
    x = graphc.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = graphc.tensor(rng.integers(0, sizes[2], batch).astype(np.int32))
    with gm:
        loss = F.nn.cross_entropy(net(x), y)  # a mean over the batch: 1/batch
        gm.backward(loss)
    opt.step()
    return loss.item(), [p.numpy() for p in net.parameters()]


def test_a_model_of_other_widths_and_batch_compiles_no_new_generated_kernel(monkeypatch):
    _train_step(8, (12, 20, 5))
    before = cache.compile_stats()
    loss, params = _train_step(6, (10, 16, 3))
    after = cache.compile_stats()
    # Every generated source of the second model was rendered before: each load was
    # answered from memory, no module imported, nothing handed to numba to compile.
    assert after["modules_imported"] == before["modules_imported"]
    assert after["numba_compiles"] == before["numba_compiles"]
    assert after["memory_hits"] > before["memory_hits"]
    # ... and it computes what the reference interpreter computes.
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")
    want_loss, want = _train_step(6, (10, 16, 3))
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    for got, ref in zip(params, want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
