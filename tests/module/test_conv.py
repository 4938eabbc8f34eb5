"""M.Conv2d (MegEngine's shapes, initialisation, repr) and a LeNet-style training step
that runs compiled and matches the interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc.autodiff import GradManager
from tests.ops import conv_reference as ref


def test_conv2d_parameters_follow_megengine():
    graphc.random.seed(0)
    conv = M.Conv2d(16, 32, 3)
    assert conv.weight.shape == (32, 16, 3, 3) and conv.bias.shape == (1, 32, 1, 1)
    w = conv.weight.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - np.sqrt(1 / (16 * 9))) < 0.01
    assert not conv.bias.numpy().any()
    grouped = M.Conv2d(4, 6, (3, 1), groups=2, bias=False)
    assert grouped.weight.shape == (2, 3, 2, 3, 1) and grouped.bias is None
    names = [name for name, _ in M.Sequential(conv).named_parameters()]
    assert names == ["0.bias", "0.weight"]


def test_conv2d_forward_equals_the_function():
    graphc.random.seed(1)
    conv = M.Conv2d(4, 6, 3, stride=2, padding=1, dilation=(1, 2), groups=2)
    conv.bias = graphc.Parameter(np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1))
    x = np.random.default_rng(0).standard_normal((2, 4, 7, 8)).astype(np.float32)
    want = ref.conv2d(x.astype(np.float64), conv.weight.numpy().reshape(6, 2, 3, 3), (2, 2),
                      (1, 1), (1, 2), 2) + np.arange(6).reshape(1, 6, 1, 1)
    np.testing.assert_allclose(conv(graphc.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)


def test_reprs():
    assert repr(M.Conv2d(3, 8, 3)) == "Conv2d(3, 8, kernel_size=(3, 3))"
    assert repr(M.Conv2d(4, 8, (3, 1), stride=2, padding=(1, 0), dilation=2, groups=4,
                         bias=False)) == ("Conv2d(4, 8, kernel_size=(3, 1), stride=(2, 2), "
                                          "padding=(1, 0), dilation=(2, 2), groups=4, "
                                          "bias=False)")
    assert repr(M.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(M.AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    assert repr(M.AdaptiveAvgPool2d((2, 3))) == "AdaptiveAvgPool2d(oshp=(2, 3))"
    assert repr(M.AdaptiveMaxPool2d(1)) == "AdaptiveMaxPool2d(oshp=1)"


def test_pooling_modules_call_the_functions():
    x = graphc.tensor(np.random.default_rng(2).standard_normal((1, 2, 6, 6)).astype("float32"))
    pairs = [(M.MaxPool2d(2), F.max_pool2d(x, 2)),
             (M.AvgPool2d(3, 2, 1, mode="average"), F.avg_pool2d(x, 3, 2, 1, mode="average")),
             (M.AdaptiveAvgPool2d(2), F.adaptive_avg_pool2d(x, 2)),
             (M.AdaptiveMaxPool2d((3, 2)), F.adaptive_max_pool2d(x, (3, 2)))]
    for module, want in pairs:
        np.testing.assert_array_equal(module(x).numpy(), want.numpy())


@pytest.mark.parametrize("bad", [{"groups": 3}, {"kernel_size": 0}, {"padding": -1}])
def test_conv2d_rejects_bad_configuration(bad):
    with pytest.raises(ValueError, match="Conv2d:"):
        M.Conv2d(**{"in_channels": 4, "out_channels": 8, "kernel_size": 3, **bad})


class LeNet(M.Module):
    """LeNet's layers, on 1x12x12 images (the kernels do not depend on sizes)."""

    def __init__(self):
        super().__init__()
        self.conv1 = M.Conv2d(1, 4, 5, padding=2)
        self.conv2 = M.Conv2d(4, 6, 3)
        self.pool = M.MaxPool2d(2)
        self.fc = M.Linear(6 * 2 * 2, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc(F.flatten(x, 1))


def _train(backend, monkeypatch, steps=3):
    monkeypatch.setenv("GRAPHC_BACKEND", backend)
    graphc.random.seed(0)
    net = LeNet()
    gm = GradManager().attach(net.parameters())
    opt = optim.SGD(net.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x = graphc.tensor(rng.standard_normal((8, 1, 12, 12)).astype(np.float32))
        label = graphc.tensor(rng.integers(0, 10, 8).astype(np.int32))
        with gm:
            loss = F.cross_entropy(net(x), label)
            gm.backward(loss)
        opt.step().clear_grad()
        losses.append(loss.item())
    return losses, {k: v.numpy() for k, v in net.named_parameters()}


def test_lenet_training_steps_compiled_match_the_interpreter(monkeypatch):
    from graphc.runtime import compiler

    want_losses, want_params = _train("interp", monkeypatch)
    before = compiler.stats["programs_compiled"]
    losses, params = _train("compiled", monkeypatch)
    assert compiler.stats["programs_compiled"] > before  # it really ran compiled
    np.testing.assert_allclose(losses, want_losses, rtol=1e-4)
    assert losses[-1] < losses[0]
    for name, value in want_params.items():
        np.testing.assert_allclose(params[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
