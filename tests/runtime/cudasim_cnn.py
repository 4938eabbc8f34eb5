"""A LeNet-5 training step on the GPU (the simulator as ``gpu0``) against the CPU: conv2d
forward and both gradients, max pooling and its gradient, the classifier and the SGD
update, one Program. Runs only under the simulator or on a GPU (tests/gpu_gate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gpu_gate import require_gpu_or_simulator

require_gpu_or_simulator()

import graphc as gc  # noqa: E402
import graphc.functional as F  # noqa: E402
import graphc.optimizer as optim  # noqa: E402
from graphc.autodiff import GradManager  # noqa: E402
from graphc.bench.models import lenet5  # noqa: E402


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def _lenet_step(device: str) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    gc.random.seed(11)
    model = lenet5().to(device)
    params = list(model.parameters())
    opt = optim.SGD(params, lr=0.05, momentum=0.9)
    gm = GradManager().attach(params)
    x = gc.tensor(rng.standard_normal((1, 1, 28, 28)).astype(np.float32), device=device)
    y = gc.tensor(np.array([3], np.int32), device=device)
    with gm:
        loss = F.nn.cross_entropy(model(x), y)
        gm.backward(loss)
    opt.step()
    opt.clear_grad()
    return [np.array([loss.item()])] + [p.numpy() for p in params]


def test_a_lenet_training_step_on_the_gpu_matches_the_cpu():
    gpu, cpu = _lenet_step("gpu0"), _lenet_step("cpux")
    largest = max(float(np.max(np.abs(g - c))) for g, c in zip(gpu, cpu))
    print(f"LeNet-5 step: largest GPU-CPU difference {largest:.3g}")
    for g, c in zip(gpu, cpu):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)
