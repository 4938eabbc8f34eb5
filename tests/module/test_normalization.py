"""BatchNorm1d, BatchNorm2d and LayerNorm (graphc/module/normalization.py): MegEngine's
state layout, train/eval behaviour and running statistics against NumPy, freeze, reprs,
errors, and training with GradManager + SGD: running statistics match a NumPy forward of
each step's weights, ``l = loss; opt.step(); l.item()`` gives the pre-step loss, and
``step()`` realizes the statistics so no pending graph grows from step to step."""

import gc

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc import lazy
from graphc.autodiff import GradManager
from graphc.ir import ShapeError, pending_nodes

RNG = np.random.default_rng(3)


def randn(*shape, loc=0.0):
    return (RNG.standard_normal(shape) + loc).astype(np.float32)


def np_bn_train(x, w, b, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    var = x.var(axis=axes, keepdims=True, dtype=np.float64)
    shape = mean.shape
    out = (x - mean) / np.sqrt(var + eps) * w.reshape(shape) + b.reshape(shape)
    n = x.size // x.shape[1]
    return out, mean.ravel(), (var * n / (n - 1)).ravel()


def test_state_layout_is_megengines():
    bn = M.BatchNorm2d(4)
    assert [k for k, _ in bn.named_parameters()] == ["bias", "weight"]
    assert [k for k, _ in bn.named_buffers()] == ["running_mean", "running_var"]
    sd = bn.state_dict()
    assert all(v.shape == (1, 4, 1, 1) and v.dtype == np.float32 for v in sd.values())
    np.testing.assert_array_equal(sd["weight"].ravel(), np.ones(4))
    np.testing.assert_array_equal(sd["running_var"].ravel(), np.ones(4))
    np.testing.assert_array_equal(sd["bias"].ravel() + sd["running_mean"].ravel(), np.zeros(4))
    assert isinstance(bn.weight, graphc.Parameter)
    assert not isinstance(bn.running_mean, graphc.Parameter)
    bare = M.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bare.tensors()) == [] and bare.weight is None and bare.running_mean is None
    ln = M.LayerNorm((2, 3))
    assert ln.weight.shape == ln.bias.shape == (2, 3)
    assert list(M.LayerNorm(3, affine=False).parameters()) == []


def test_reprs():
    assert repr(M.BatchNorm2d(128)) == ("BatchNorm2d(128, eps=1e-05, momentum=0.9, affine=True, "
                                        "track_running_stats=True)")
    assert repr(M.BatchNorm1d(8, eps=1e-3, momentum=0.5, affine=False)) == (
        "BatchNorm1d(8, eps=0.001, momentum=0.5, affine=False, track_running_stats=True)")
    assert repr(M.LayerNorm(16)) == "LayerNorm((16,), eps=1e-05, affine=True)"
    net = M.Sequential(M.Linear(2, 3), M.BatchNorm1d(3))
    assert "(1): BatchNorm1d(3, eps=1e-05" in repr(net)


@pytest.mark.parametrize("cls, shape", [(M.BatchNorm1d, (8, 3)), (M.BatchNorm1d, (4, 3, 5)),
                                        (M.BatchNorm2d, (2, 3, 4, 4))])
def test_training_updates_running_statistics_and_eval_uses_them(cls, shape):
    bn = cls(3, momentum=0.7)
    bn.weight.numpy()  # realized leaves, so the reference reads the same values
    w, b = randn(1, 3, 1, 1), randn(1, 3, 1, 1)
    bn.load_state_dict({"weight": w, "bias": b, "running_mean": np.zeros((1, 3, 1, 1)),
                        "running_var": np.ones((1, 3, 1, 1))})
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = randn(*shape, loc=1.7)
        want, mean, unbiased = np_bn_train(x, w, b, bn.eps)
        np.testing.assert_allclose(bn(graphc.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)
        rm, rv = 0.7 * rm + 0.3 * mean, 0.7 * rv + 0.3 * unbiased
    np.testing.assert_allclose(bn.running_mean.numpy().ravel(), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy().ravel(), rv, rtol=1e-5, atol=1e-6)
    bn.eval()
    x = randn(*shape)
    pshape = (1, 3) + (1,) * (len(shape) - 2)
    want = (x - rm.reshape(pshape)) / np.sqrt(rv.reshape(pshape) + bn.eps) * \
        w.reshape(pshape) + b.reshape(pshape)
    np.testing.assert_allclose(bn(graphc.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy().ravel(), rm, rtol=1e-5, atol=1e-6)


def test_without_running_statistics_eval_still_uses_the_batch():
    bn = M.BatchNorm1d(2, affine=False, track_running_stats=False)
    bn.eval()
    x = randn(5, 2, loc=3.0)
    want, _, _ = np_bn_train(x, np.ones(2), np.zeros(2), bn.eps)
    np.testing.assert_allclose(bn(graphc.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)


def test_freeze_uses_running_statistics_and_trains_nothing():
    bn = M.BatchNorm1d(2, freeze=True)
    gm = GradManager().attach(bn.parameters())
    x = randn(4, 2, loc=5.0)
    with gm:
        y = bn(graphc.tensor(x))
        gm.backward(y.sum())
    np.testing.assert_allclose(y.numpy(), x / np.sqrt(1 + bn.eps), rtol=1e-6)
    assert bn.weight.grad is None and bn.bias.grad is None
    np.testing.assert_array_equal(bn.running_mean.numpy().ravel(), [0, 0])
    with pytest.raises(ValueError, match="freeze=True needs track_running_stats=True"):
        M.BatchNorm2d(2, freeze=True, track_running_stats=False)


def test_input_errors_name_the_layer_and_shape():
    with pytest.raises(ShapeError, match=r"BatchNorm2d: expects a 4-d input, got shape "
                                         r"\(2, 3\).*test_normalization.py"):
        M.BatchNorm2d(3)(F.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"BatchNorm1d: expects a 2-d or 3-d input"):
        M.BatchNorm1d(3)(F.ones((2, 3, 1, 1)))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(4\): input of shape \(2, 3\) has 3 "
                                         r"channels"):
        M.BatchNorm1d(4)(F.ones((2, 3)))


def test_layer_norm_module_matches_numpy_and_learns_its_affine():
    ln = M.LayerNorm((2, 3), eps=1e-4)
    x = randn(4, 2, 3, loc=2.0)
    mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
    var = x.var(axis=(1, 2), keepdims=True, dtype=np.float64)
    gm = GradManager().attach(ln.parameters())
    with gm:
        y = ln(graphc.tensor(x))
        gm.backward((y * 2.0).sum())
    np.testing.assert_allclose(y.numpy(), (x - mean) / np.sqrt(var + 1e-4), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(ln.bias.grad.numpy(), np.full((2, 3), 8.0))


class Net(M.Module):
    """BatchNorm on the data (its statistics read no parameter) and after a Linear."""

    def __init__(self):
        super().__init__()
        self.bn_in = M.BatchNorm1d(4)
        self.fc = M.Linear(4, 3)
        self.bn_out = M.BatchNorm1d(3)

    def forward(self, x):
        return self.bn_out(self.fc(self.bn_in(x)))


def numpy_step(params, x, target, eps):
    """The loss and batch statistics of one training forward, from the weights."""
    h, m1, v1 = np_bn_train(x, params["bn_in.weight"], params["bn_in.bias"], eps)
    h = h @ params["fc.weight"].T.astype(np.float64) + params["fc.bias"]
    y, m2, v2 = np_bn_train(h, params["bn_out.weight"], params["bn_out.bias"], eps)
    return ((y - target) ** 2).mean(), (m1, v1), (m2, v2)


@pytest.mark.parametrize("backend", ["interp", "compiled"])
def test_training_with_sgd_updates_statistics_and_keeps_the_graph_bounded(backend,
                                                                          monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", backend)
    graphc.random.seed(0)
    net = Net()
    gm = GradManager().attach(net.parameters())
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    stats = {name: (np.zeros(n), np.ones(n)) for name, n in (("bn_in", 4), ("bn_out", 3))}
    def pending_count() -> int:
        gc.collect()
        return len(pending_nodes([t._node for t in lazy.live_pending_tensors()]))

    # Other tests in this process may leave pending tensors alive: count relative to them.
    baseline = pending_count()
    pending = []
    for _ in range(4):
        x, target = randn(16, 4, loc=1.0), randn(16, 3)
        params = {k: v.numpy().astype(np.float64) for k, v in net.named_parameters()}
        want_loss, *batch = numpy_step(params, x, target, 1e-5)
        with gm:
            loss = F.mean(F.square(net(graphc.tensor(x)) - graphc.tensor(target)))
            gm.backward(loss)
        l = loss  # noqa: E741
        opt.step().clear_grad()
        # step() computed the running statistics in its Program: nothing stays pending.
        assert net.bn_in.running_mean._node.buffer is not None
        assert net.bn_out.running_var._node.buffer is not None
        assert l._node.buffer is not None
        np.testing.assert_allclose(l.item(), want_loss, rtol=1e-4)  # the pre-step loss
        for name, (mean, var) in zip(("bn_in", "bn_out"), batch):
            rm, rv = stats[name]
            stats[name] = (0.9 * rm + 0.1 * mean, 0.9 * rv + 0.1 * var)
        pending.append(pending_count())
    for name, (rm, rv) in stats.items():
        bn = getattr(net, name)
        np.testing.assert_allclose(bn.running_mean.numpy().ravel(), rm, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(bn.running_var.numpy().ravel(), rv, rtol=1e-4, atol=1e-6)
    assert all(count <= baseline for count in pending), (baseline, pending)
