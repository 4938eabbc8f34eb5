"""Module: discovery order, containers, state dicts, hooks, modes, repr and scopes."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager


class Block(M.Module):
    def __init__(self):
        super().__init__()
        self.bn = M.Linear(2, 2)
        self.scale = graphc.tensor(np.ones(2, np.float32))  # a buffer

    def forward(self, x):
        return self.bn(x) * self.scale


class Net(M.Module):
    def __init__(self):
        super().__init__()
        self.param = graphc.Parameter(np.zeros(2, np.float32))
        self.i = Block()
        self.blocks = [Block(), {"head": M.Linear(2, 3)}]

    def forward(self, x):
        x = self.i(x) + self.param
        x = self.blocks[0](x)
        return self.blocks[1]["head"](x)


def test_discovery_is_sorted_by_attribute_and_walks_containers():
    net = Net()
    names = [k for k, _ in net.named_parameters()]
    assert names == ["blocks.0.bn.bias", "blocks.0.bn.weight", "blocks.1.head.bias",
                     "blocks.1.head.weight", "i.bn.bias", "i.bn.weight", "param"]
    assert [k for k, _ in net.named_buffers()] == ["blocks.0.scale", "i.scale"]
    assert [k for k, _ in net.named_parameters(prefix="net", recursive=False)] == ["net.param"]
    assert [k for k, _ in net.named_modules()] == ["", "blocks.0", "blocks.0.bn",
                                                     "blocks.1.head", "i", "i.bn"]
    assert [k for k, _ in net.named_children()] == ["blocks.0", "blocks.1.head", "i"]
    assert len(list(net.tensors())) == 9


def test_shared_parameters_are_reported_once():
    net = M.Module()
    layer = M.Linear(2, 2)
    net.a, net.b = layer, layer
    assert len(list(net.parameters())) == 2


def test_forgetting_super_init_is_a_clear_error():
    class Broken(M.Module):
        def __init__(self):
            self.fc = M.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_state_dict_round_trip_and_strict_loading():
    a, b = Net(), Net()
    state = a.state_dict()
    assert all(not v.flags.writeable for v in state.values())
    b.load_state_dict(state)
    x = graphc.tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict({k: v for k, v in state.items() if k != "param"})
    with pytest.raises(KeyError, match="unexpected"):
        b.load_state_dict({**state, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        b.load_state_dict({**state, "param": np.zeros(3, np.float32)})
    b.load_state_dict({"param": np.full(2, 5, np.float32)}, strict=False)
    np.testing.assert_array_equal(b.param.numpy(), [5, 5])
    b.load_state_dict(lambda key, t: np.full(t.shape, 7, np.float32) if key == "param" else None,
                      strict=False)
    np.testing.assert_array_equal(b.param.numpy(), [7, 7])


def test_state_dict_survives_save_and_load(tmp_path):
    a, b = Net(), Net()
    graphc.save(a.state_dict(), tmp_path / "net.npz")
    b.load_state_dict(graphc.load(tmp_path / "net.npz"))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)


def test_hooks_rewrite_inputs_and_outputs_and_can_be_removed():
    layer = M.Linear(2, 2)
    x = graphc.tensor(np.ones((1, 2), np.float32))
    plain = layer(x).numpy()
    pre = layer.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 2,))
    post = layer.register_forward_hook(lambda m, inputs, out: out + 1)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), (2 * x.numpy()) @ w.T + b + 1, rtol=1e-6)
    pre.remove()
    post.remove()
    np.testing.assert_array_equal(layer(x).numpy(), plain)


def test_train_and_eval_recurse():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.i.train(False)
    assert not net.i.training and not net.i.bn.training and net.training


def test_repr_is_pytorch_like():
    assert repr(M.Linear(512, 1024)) == "Linear(in_features=512, out_features=1024, bias=True)"
    assert repr(M.Sequential(M.Linear(2, 3, bias=False), M.ReLU())) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=False)\n"
        "  (1): ReLU()\n)")


def test_nodes_carry_the_dotted_module_scope():
    net = Net()
    y = net(graphc.tensor(np.ones((1, 2), np.float32)))
    scopes = {n.meta.scope for n in graphc.ir.topo_order([y._node], stop=lambda n: False)
              if n.inputs}
    assert {"i.bn", "blocks.0.bn", "blocks.1.head"} <= scopes


def test_linear_matches_numpy_and_trains():
    rng = np.random.default_rng(0)
    layer = M.Linear(3, 2)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(layer(graphc.tensor(x)).numpy(), x @ w.T + b, rtol=1e-5)
    gm = GradManager().attach(layer.parameters())
    with gm:
        gm.backward(F.sum(layer(graphc.tensor(x)) ** 2))
    out = x @ w.T + b
    np.testing.assert_allclose(layer.weight.grad.numpy(), 2 * out.T @ x, rtol=1e-4)
    np.testing.assert_allclose(layer.bias.grad.numpy(), 2 * out.sum(0), rtol=1e-4)


def test_sequential_indexing_slicing_len_iteration():
    net = M.Sequential(M.Linear(4, 8), M.ReLU(), M.Linear(8, 2))
    assert len(net) == 3 and isinstance(net[1], M.ReLU) and len(net[:2]) == 2
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"]
    x = graphc.tensor(np.ones((2, 4), np.float32))
    np.testing.assert_allclose(net(x).numpy(), net[2](net[1](net[0](x))).numpy())


def test_init_functions_match_their_distributions():
    graphc.random.seed(3)
    w = graphc.Parameter(np.zeros((400, 300), np.float32))
    M.init.xavier_uniform_(w)
    bound = np.sqrt(6 / 700)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.9 * bound
    M.init.msra_normal_(w)
    assert abs(w.numpy().std() - np.sqrt(2 / 300)) < 0.01 * np.sqrt(2 / 300) * 10
    assert M.init.calculate_fan_in_and_fan_out(
        graphc.Parameter(np.zeros((8, 3, 5, 5), np.float32))) == (75, 200)
    M.init.zeros_(w)
    assert not w.numpy().any()
