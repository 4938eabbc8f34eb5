"""Module: discovery order, containers, state dicts, hooks, modes, repr and scopes."""

from collections import OrderedDict

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


def test_assigning_a_module_before_super_init_is_a_clear_error():
    class Broken(M.Module):
        def __init__(self):
            self.fc = M.Linear(2, 2)

    class BrokenList(M.Module):
        def __init__(self):
            self.layers = [M.ReLU()]

    for cls in (Broken, BrokenList):
        with pytest.raises(AttributeError, match="super\\(\\).__init__"):
            cls()


def test_calling_a_module_whose_init_never_ran_is_a_clear_error():
    class Forgot(M.Module):
        def __init__(self):
            self.k = 3

        def forward(self, x):
            return x * self.k

    with pytest.raises(AttributeError, match=r"Module.__init__\(\) was not called"):
        Forgot()(graphc.tensor([1.0]))
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        _ = M.Linear(2, 2).nope


def test_plain_attributes_may_be_set_before_super_init():
    # MegEngine allows it (ResNet's blocks set self.in_channels first).
    class Block(M.Module):
        def __init__(self, channels):
            self.channels = channels
            self.widths = [channels, 2 * channels]
            self.scale = graphc.Parameter(np.full(channels, 2.0, np.float32))
            super().__init__()
            self.fc = M.Linear(channels, 2 * channels)

        def forward(self, x):
            return self.fc(x * self.scale)

    block = Block(3)
    assert block.channels == 3 and block.widths == [3, 6] and block.training
    assert [k for k, _ in block.named_parameters()] == ["fc.bias", "fc.weight", "scale"]
    x = np.ones((1, 3), np.float32)
    w, b = block.fc.weight.numpy(), block.fc.bias.numpy()
    np.testing.assert_allclose(block(graphc.tensor(x)).numpy(), (2 * x) @ w.T + b, rtol=1e-6)


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


class Stem(M.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = M.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = M.BatchNorm2d(8)
        self.layers = [M.ReLU(), M.Sequential(M.Identity())]
        self.fc = M.Linear(8, 2)
        self.fc = M.Linear(8, 4)  # reassigned: keeps its place

    def forward(self, x):
        return x


def test_repr_nests_children_in_assignment_order():
    # MegEngine's form: children in the order first assigned (not sorted), each nested
    # repr indented by two spaces, containers expanded to dotted keys.
    assert repr(Stem()) == (
        "Stem(\n"
        "  (conv1): Conv2d(3, 8, kernel_size=(3, 3), padding=(1, 1), bias=False)\n"
        "  (bn1): BatchNorm2d(8, eps=1e-05, momentum=0.9, affine=True, "
        "track_running_stats=True)\n"
        "  (layers.0): ReLU()\n"
        "  (layers.1): Sequential(\n"
        "    (0): Identity()\n"
        "  )\n"
        "  (fc): Linear(in_features=8, out_features=4, bias=True)\n"
        ")")


class ConvModel(M.Module):
    """MegEngine's test_repr_basic model (imperative/python/test/unit/module)."""

    def __init__(self):
        super().__init__()
        self.conv1 = M.Conv2d(3, 128, 3, padding=1, bias=False)
        self.conv2 = M.Conv2d(3, 128, 3, dilation=2, bias=False)
        self.bn1 = M.BatchNorm1d(128)
        self.bn2 = M.BatchNorm2d(128)
        self.pooling = M.MaxPool2d(kernel_size=2, padding=0)
        modules = OrderedDict()
        modules["depthwise"] = M.Conv2d(256, 256, 3, 1, 0, groups=256, bias=False)
        modules["pointwise"] = M.Conv2d(256, 256, kernel_size=1, stride=1, padding=0,
                                        bias=True)
        self.submodule1 = M.Sequential(modules)
        self.list1 = [M.Dropout(drop_prob=0.1), [M.Softmax(axis=100)]]
        self.tuple1 = (M.Dropout(drop_prob=0.1),
                       [M.Softmax(axis=100), M.Dropout(drop_prob=0.2)])
        self.dict1 = {"Dropout": M.Dropout(drop_prob=0.1)}
        self.fc1 = M.Linear(512, 1024)

    def forward(self, inputs):
        return inputs


def test_repr_matches_megengines_test_repr_basic():
    # MegEngine's ground truth, character for character.
    assert repr(ConvModel()) == (
        "ConvModel(\n"
        "  (conv1): Conv2d(3, 128, kernel_size=(3, 3), padding=(1, 1), bias=False)\n"
        "  (conv2): Conv2d(3, 128, kernel_size=(3, 3), dilation=(2, 2), bias=False)\n"
        "  (bn1): BatchNorm1d(128, eps=1e-05, momentum=0.9, affine=True, "
        "track_running_stats=True)\n"
        "  (bn2): BatchNorm2d(128, eps=1e-05, momentum=0.9, affine=True, "
        "track_running_stats=True)\n"
        "  (pooling): MaxPool2d(kernel_size=2, stride=2, padding=0)\n"
        "  (submodule1): Sequential(\n"
        "    (depthwise): Conv2d(256, 256, kernel_size=(3, 3), groups=256, bias=False)\n"
        "    (pointwise): Conv2d(256, 256, kernel_size=(1, 1))\n"
        "  )\n"
        "  (list1.0): Dropout(drop_prob=0.1)\n"
        "  (list1.1.0): Softmax(axis=100)\n"
        "  (tuple1.0): Dropout(drop_prob=0.1)\n"
        "  (tuple1.1.0): Softmax(axis=100)\n"
        "  (tuple1.1.1): Dropout(drop_prob=0.2)\n"
        "  (dict1.Dropout): Dropout(drop_prob=0.1)\n"
        "  (fc1): Linear(in_features=512, out_features=1024, bias=True)\n"
        ")")


def test_repr_puts_extra_repr_lines_before_children():
    class Head(M.Linear):
        def __init__(self):
            super().__init__(2, 2)
            self.act = M.ReLU()

    class Multi(M.Module):
        def _module_info_string(self):
            return "a=1\nb=2"

    assert repr(Head()) == (
        "Head(\n  in_features=2, out_features=2, bias=True\n  (act): ReLU()\n)")
    assert repr(Multi()) == "Multi(\n  a=1\n  b=2\n)"


def test_repr_shows_modules_added_to_a_container_after_it_was_assigned():
    net = M.Module()
    net.blocks = []
    net.head = M.Identity()
    net.blocks.append(M.ReLU())
    assert repr(net) == "Module(\n  (blocks.0): ReLU()\n  (head): Identity()\n)"


def test_repr_forgets_a_child_replaced_by_a_plain_value_or_deleted():
    net = M.Module()
    net.a, net.b = M.ReLU(), M.Identity()
    net.a = None
    assert repr(net) == "Module(\n  (b): Identity()\n)"
    del net.b
    assert repr(net) == "Module()"


def test_parameters_and_tensors_take_user_attributes():
    # MegEngine code stores things on parameters (e.g. a flag for weight decay).
    layer = M.Linear(2, 2)
    layer.weight.no_decay = True
    t = graphc.tensor([1.0])
    t.tag = "input"
    assert layer.weight.no_decay is True and t.tag == "input"
    assert not hasattr(layer.bias, "no_decay")
    assert not hasattr(t * 2, "tag")  # a result is a new Tensor


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


def test_sequential_from_an_ordered_dict_names_children_by_key():
    fc1, fc2 = M.Linear(4, 3), M.Linear(3, 2)
    net = M.Sequential(OrderedDict([("fc1", fc1), ("act", M.ReLU()), ("fc2", fc2)]))
    assert net.layer_keys == ["fc1", "act", "fc2"]
    assert net.fc1 is fc1 and net[2] is fc2 and net[-1] is fc2
    assert [k for k, _ in net.named_parameters()] == [
        "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    assert list(net.state_dict()) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    assert repr(net).splitlines()[1:] == [
        "  (fc1): Linear(in_features=4, out_features=3, bias=True)", "  (act): ReLU()",
        "  (fc2): Linear(in_features=3, out_features=2, bias=True)", ")"]
    x = np.ones((2, 4), np.float32)
    h = np.maximum(x @ fc1.weight.numpy().T + fc1.bias.numpy(), 0)
    np.testing.assert_allclose(net(graphc.tensor(x)).numpy(),
                               h @ fc2.weight.numpy().T + fc2.bias.numpy(), rtol=1e-6)
    head = net[1:]  # a slice keeps the names
    assert head.layer_keys == ["act", "fc2"] and head.fc2 is fc2


def test_sequential_setitem_and_delitem():
    net = M.Sequential(M.Linear(2, 2), M.ReLU(), M.Linear(2, 2))
    net[1] = M.Sigmoid()
    assert isinstance(net[1], M.Sigmoid) and isinstance(net.__dict__["1"], M.Sigmoid)
    del net[0]
    assert net.layer_keys == ["1", "2"] and not hasattr(net, "0")
    assert [k for k, _ in net.named_parameters()] == ["2.bias", "2.weight"]
    del net[:]
    assert len(net) == 0 and repr(net) == "Sequential()"
    with pytest.raises(TypeError, match=r"Sequential: layer '0' is not a Module \(got int\)"):
        M.Sequential(3)


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
