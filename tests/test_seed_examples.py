"""The examples of the seeds, with ``megengine`` spelled ``graphc``: 000 ("MegEngine basic
concepts") and 001 ("Python-layer modules").

Each test runs an example as the seed writes it and compares what it prints with the
output the seed shows. Two things of the seed's text are not what MegEngine printed: its
continuation lines lost their leading space and runs of spaces were collapsed. So each
printed tensor is checked twice: against the seed's text with whitespace normalised, and
exactly against NumPy's ``str`` layout of the seed's values (which MegEngine prints).

Seed 001 ("Python-layer modules": functional, module, optimizer) follows at the end.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.autodiff import GradManager
from graphc.device import gpu_usable
from graphc.module import Module
from graphc.tensor import Parameter


@pytest.fixture(autouse=True)
def default_device_xpux():
    """The seed's outputs assume the default device (xpux), whatever the environment says."""
    saved = graphc.get_default_device()
    graphc.set_default_device("xpux")
    yield
    graphc.set_default_device(saved)


def squash(text: str) -> str:
    """Whitespace-insensitive form, to compare with the seed's collapsed text."""
    return " ".join(text.split())


def numpy_layout(values: np.ndarray, device: str = "xpux:0") -> str:
    """How MegEngine prints a float32 tensor: NumPy's str of the values at 4 digits."""
    return f"Tensor({np.array_str(values, precision=4)}, device={device})"


def printed_lines(capsys) -> str:
    return capsys.readouterr().out.rstrip("\n")


def test_tensor_from_random_ndarray(capsys):
    rng = np.random.default_rng(0)  # the seed uses np.random.random: its values vary
    data = rng.random((2, 5)).astype("float32")
    a = graphc.tensor(data)
    print(a)
    out = printed_lines(capsys)
    seed = ("Tensor([[0.2976 0.4078 0.5957 0.3945 0.9413]\n"
            "[0.7519 0.3313 0.0913 0.3345 0.3256]], device=xpux:0)")
    # NumPy prints at most 4 decimals (fewer where they suffice, e.g. "0.637 ").
    number = re.compile(r"\d\.\d{1,4}")
    # Same layout as the seed once the numbers are abstracted...
    assert number.sub("N", squash(out)) == number.sub("N", squash(seed))
    assert out.split("\n")[1].startswith(" [")  # NumPy indents continuation lines
    # ...and the numbers are the data at 4 decimals.
    shown = np.array([float(x) for x in number.findall(out)]).reshape(2, 5)
    np.testing.assert_allclose(shown, data, atol=5.001e-5)


def test_tensor_from_list(capsys):
    b = graphc.tensor([1., 2., 3.])
    print(b)
    assert printed_lines(capsys) == "Tensor([1. 2. 3.], device=xpux:0)"


def test_dtype_and_astype_copy(capsys):
    a = graphc.tensor(np.random.default_rng(1).random((2, 5)).astype("float32"))
    before = a.numpy()
    # The seed prints <class 'numpy.float32'>; graphc's dtype is a numpy dtype.
    assert a.dtype == np.float32
    d = a.astype("float16")
    assert d.dtype == np.float16
    # astype makes a new tensor; the original keeps its dtype and values.
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a.numpy(), before)
    np.testing.assert_array_equal(d.numpy(), before.astype(np.float16))
    print(a.shape)
    assert printed_lines(capsys) == "(2, 5)"


def test_numpy_method(capsys):
    a = graphc.tensor(np.arange(12)).reshape(2, 6).astype("float32")
    print(a)
    b = a.numpy()
    print(b)
    out = printed_lines(capsys)
    seed = ("Tensor([[ 0. 1. 2. 3. 4. 5.]\n[ 6. 7. 8. 9. 10. 11.]], device=xpux:0)\n"
            "[[ 0. 1. 2. 3. 4. 5.]\n[ 6. 7. 8. 9. 10. 11.]]")
    assert squash(out) == squash(seed)
    values = np.arange(12, dtype=np.float32).reshape(2, 6)
    assert out == numpy_layout(values) + "\n" + str(values)
    assert isinstance(b, np.ndarray) and b.dtype == np.float32


def test_device_and_to(capsys):
    a = graphc.tensor(np.arange(12)).reshape(2, 6).astype("float32")
    print(a.device)
    b = a.to("cpu0")
    print(b.device)
    assert printed_lines(capsys) == "xpux:0\ncpu0:0"
    np.testing.assert_array_equal(b.numpy(), a.numpy())
    # The seed notes that moving to gpu0 depends on the machine.
    if gpu_usable():
        c = b.to("gpu0")
        assert str(c.device) == "gpu0:0"
        np.testing.assert_array_equal(c.numpy(), a.numpy())
    else:
        with pytest.raises(RuntimeError, match="gpu0 is not available"):
            b.to("gpu0")


def test_set_default_device():
    graphc.set_default_device("cpux")
    assert str(graphc.tensor([1.]).device) == "cpux:0"
    if not gpu_usable():
        with pytest.raises(RuntimeError, match="gpux is not available"):
            graphc.set_default_device("gpux")
        assert graphc.get_default_device() == "cpux"  # a refused device changes nothing


def test_default_device_from_environment():
    # MGE_DEFAULT_DEVICE in the seed; GRAPHC_DEFAULT_DEVICE for graphc.
    env = dict(os.environ, GRAPHC_DEFAULT_DEVICE="cpux")
    out = subprocess.run([sys.executable, "-c", "import graphc; print(graphc.tensor([1.]).device)"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "cpux:0"


def test_addition(capsys):
    a = graphc.tensor([[1., 2., 2.], [5., 1., 8.]])
    print(a)
    b = graphc.tensor([[1., 9., 1.], [1., 7., 9.]])
    print(b)
    print(a + b)
    out = printed_lines(capsys)
    seed = ("Tensor([[1. 2. 2.]\n[5. 1. 8.]], device=xpux:0)\n"
            "Tensor([[1. 9. 1.]\n[1. 7. 9.]], device=xpux:0)\n"
            "Tensor([[ 2. 11. 3.]\n[ 6. 8. 17.]], device=xpux:0)")
    assert squash(out) == squash(seed)
    expected = [np.array(v, np.float32) for v in ([[1, 2, 2], [5, 1, 8]], [[1, 9, 1], [1, 7, 9]],
                                                  [[2, 11, 3], [6, 8, 17]])]
    assert out == "\n".join(numpy_layout(v) for v in expected)


def test_slicing(capsys):
    a = graphc.tensor([[1., 2., 2.], [5., 1., 8.]])
    print(a[1, :])
    assert printed_lines(capsys) == "Tensor([5. 1. 8.], device=xpux:0)"


def test_reshape_echo():
    a = graphc.tensor([[1., 2., 2.], [5., 1., 8.]])
    echoed = repr(a.reshape(3, 2))  # the seed shows the interactive echo
    seed = "Tensor([[1. 2.]\n[2. 5.]\n[1. 8.]], device=xpux:0)"
    assert squash(echoed) == squash(seed)
    assert echoed == numpy_layout(np.array([[1, 2], [2, 5], [1, 8]], np.float32))


def test_reshape_infers_minus_one(capsys):
    a = graphc.tensor([[1., 2., 2.], [5., 1., 8.]])
    a = a.reshape(1, -1)
    print(a.shape)
    assert printed_lines(capsys) == "(1, 6)"
    np.testing.assert_array_equal(a.numpy(), [[1, 2, 2, 5, 1, 8]])


def test_matmul(capsys):
    a = graphc.tensor(np.arange(6).reshape(2, 3)).astype('float32')
    print(a)
    b = graphc.tensor(np.arange(6, 12).reshape(3, 2)).astype('float32')
    print(b)
    c = F.matmul(a, b)
    print(c)
    out = printed_lines(capsys)
    seed = ("Tensor([[0. 1. 2.]\n[3. 4. 5.]], device=xpux:0)\n"
            "Tensor([[ 6. 7.]\n[ 8. 9.]\n[10. 11.]], device=xpux:0)\n"
            "Tensor([[ 28. 31.]\n[100. 112.]], device=xpux:0)")
    assert squash(out) == squash(seed)
    expected = [np.array(v, np.float32) for v in ([[0, 1, 2], [3, 4, 5]],
                                                  [[6, 7], [8, 9], [10, 11]],
                                                  [[28, 31], [100, 112]])]
    assert out == "\n".join(numpy_layout(v) for v in expected)


# ---- seed 000: GradManager ------------------------------------------------------------

def _seed_operands():
    x = graphc.tensor([1., 3., 5.]).reshape(1, 3)
    w = graphc.tensor([2., 4., 6.]).reshape(3, 1)
    b = graphc.tensor(-1.)
    return x, w, b


def test_grad_manager_with_block(capsys):
    x, w, b = _seed_operands()
    gm = GradManager().attach([w, b])  # 新建一个求导器,绑定需要求导的变量
    with gm:  # 开始记录计算图
        p = F.matmul(x, w)
        y = p + b
        gm.backward(y)  # 计算 y 的导数
    print(w.grad)
    print(b.grad)
    out = printed_lines(capsys).split("\n")
    assert squash("\n".join(out[:3])) == squash("Tensor([[1.]\n[3.]\n[5.]], device=xpux:0)")
    # The seed prints b.grad as "Tensor([1.], ...)": MegEngine of its day held scalars as
    # shape (1,). b here is 0-d, as in current MegEngine, and so is its gradient.
    assert b.grad.shape == () and out[3] == "Tensor(1.0, device=xpux:0)"
    np.testing.assert_array_equal(w.grad.numpy(), x.numpy().T)


def test_grad_manager_record_and_release():
    x, w, b = _seed_operands()
    gm = GradManager().attach([w, b])
    gm.record()  # 开始记录计算图
    p = F.matmul(x, w)
    y = p + b
    gm.backward(y)  # 计算 y 的导数
    gm.release()  # 停止记录计算图并释放资源
    np.testing.assert_array_equal(w.grad.numpy(), [[1.], [3.], [5.]])
    assert b.grad.item() == 1.0


def test_detach_stops_the_gradient(capsys):
    x, w, b = _seed_operands()
    gm = GradManager().attach([w, b])
    with gm:
        p = F.matmul(x, w)
        y = p + b.detach()  # 停止对 b 求导
        gm.backward(y)
    print(b.grad)
    assert printed_lines(capsys) == "None"
    np.testing.assert_array_equal(w.grad.numpy(), [[1.], [3.], [5.]])


# ---- seed 001: functional, Module and optimizer ---------------------------------------

def test_functional_concat_diag_squeeze():
    a = graphc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert F.concat([a]) is a  # one input comes back as it is, as in the seed's concat
    np.testing.assert_array_equal(F.concat([a, a], axis=1).numpy(),
                                  np.concatenate([a.numpy()] * 2, axis=1))
    v = graphc.tensor([1., 2., 3.])
    np.testing.assert_array_equal(F.diag(v).numpy(), np.diag(v.numpy()))
    np.testing.assert_array_equal(F.diag(F.diag(v), k=0).numpy(), v.numpy())
    np.testing.assert_array_equal(F.diag(a, k=1).numpy(), np.diag(a.numpy(), k=1))
    s = graphc.tensor(np.ones((1, 3, 1), np.float32))
    assert F.squeeze(s).shape == (3,) and F.squeeze(s, axis=0).shape == (3, 1)


class Simple(Module):
    def __init__(self):
        super().__init__()
        self.a = Parameter([1.23], dtype=np.float32)

    def forward(self, x):
        x = x * self.a
        return x


def test_simple_module_and_its_methods():
    net = Simple()
    x = graphc.tensor([1., 2.])
    np.testing.assert_allclose(net(x).numpy(), np.float32(1.23) * np.array([1., 2.]))
    assert [n for n, _ in net.named_parameters()] == ["a"]
    assert list(net.buffers()) == [] and list(net.children()) == []
    assert [n for n, _ in net.named_modules()] == [""]
    state = net.state_dict()
    assert not state["a"].flags.writeable  # read-only NumPy arrays, as the seed says
    net.load_state_dict(lambda key, tensor: np.array([2.0], np.float32))
    np.testing.assert_array_equal(net.a.numpy(), [2.0])


def test_optimizer_loop_as_the_seed_writes_it():
    import graphc.optimizer as optim

    class MyModel(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(np.zeros((3, 1), np.float32))

        def forward(self, x):
            return F.matmul(x, self.w)

    rng = np.random.default_rng(0)
    true_w = np.array([[1.0], [-2.0], [0.5]], np.float32)
    inputs = [rng.standard_normal((8, 3)).astype(np.float32) for _ in range(200)]
    dataset = [(graphc.tensor(d), graphc.tensor(d @ true_w)) for d in inputs]
    loss_fn = F.nn.square_loss

    model = MyModel()
    gm = GradManager().attach(model.parameters())
    optimizer = optim.SGD(model.parameters(), lr=0.01)  # lr may vary with different model
    for data, label in dataset:
        with gm:
            pred = model(data)
            loss = loss_fn(pred, label)
            gm.backward(loss)  # the seed writes gm.backward(): MegEngine then only releases
        optimizer.step().clear_grad()
    np.testing.assert_allclose(model.w.numpy(), true_w, atol=0.05)

    # As written in the seed, backward() without a loss records nothing: no update.
    before = model.w.numpy().copy()
    for data, label in dataset[:3]:
        with gm:
            pred = model(data)
            loss = loss_fn(pred, label)
            gm.backward()
        optimizer.step().clear_grad()
    np.testing.assert_array_equal(model.w.numpy(), before)
