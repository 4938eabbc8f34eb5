"""The GPU runtime under numba's CUDA simulator: Tensors on ``gpu0`` compute through
compiled CUDA Programs (the simulator stands in for the device), compared with the same
graphs on the CPU. Runs only with ``NUMBA_ENABLE_CUDASIM=1``, in the simulator's own
pytest process (tests/codegen/test_cuda_sim.py starts it).
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from tests.gpu_gate import require_gpu_or_simulator

require_gpu_or_simulator()

import graphc as gc  # noqa: E402
import graphc.functional as F  # noqa: E402
import graphc.module as M  # noqa: E402
import graphc.optimizer as optim  # noqa: E402
from graphc.autodiff import GradManager  # noqa: E402
from graphc.backends.cuda_memory import is_device_array  # noqa: E402
from graphc.ir import OpError  # noqa: E402


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def on(device: str, array: np.ndarray) -> gc.Tensor:
    return gc.tensor(array, device=device)


def test_gpu_tensors_hold_device_arrays_and_read_back():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = on("gpu0", a)
    assert is_device_array(x._node.buffer)
    y = F.exp(x * 0.5 - 1)
    assert is_device_array(gc.realize(y) or y._node.buffer)
    np.testing.assert_allclose(y.numpy(), np.exp(a * 0.5 - 1), rtol=2e-6)
    assert str(y.device) == "gpu0:0"
    assert y[1, 2].item() == pytest.approx(np.exp(3.0 - 1), rel=1e-6)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_reductions_and_softmax_match_the_cpu(axis):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 10)).astype(np.float32)
    for fn in (lambda t: t.sum(axis=axis), lambda t: t.max(axis=axis),
               lambda t: (t * t).mean(axis=axis)):
        np.testing.assert_allclose(fn(on("gpu0", a)).numpy(), fn(on("cpux", a)).numpy(),
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.softmax(on("gpu0", a), axis=1).numpy(),
                               F.softmax(on("cpux", a), axis=1).numpy(), rtol=1e-5, atol=1e-7)


def test_matmul_and_transposed_operands():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float32)
    got = (on("gpu0", a).T @ on("gpu0", b)).numpy()
    np.testing.assert_allclose(got, a.T @ b, rtol=1e-5, atol=1e-5)


def test_values_move_between_devices_inside_one_graph():
    a = np.linspace(-1, 1, 8, dtype=np.float32)
    cpu = on("cpux", a)
    gpu = (cpu * 3).to("gpu0")  # CPU work, then a copy, then GPU work
    back = (F.relu(gpu) + 1).to("cpux") * 2
    np.testing.assert_allclose(back.numpy(), (np.maximum(a * 3, 0) + 1) * 2, rtol=1e-6)
    assert str(back.device) == "cpux:0"


def test_repeated_runs_give_the_same_bits():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 33)).astype(np.float32)
    x = on("gpu0", a)
    first = [F.softmax(x, axis=1).numpy(), x.sum().numpy(), x.sum(axis=0).numpy()]
    for _ in range(2):
        again = [F.softmax(x, axis=1).numpy(), x.sum().numpy(), x.sum(axis=0).numpy()]
        assert all(f.tobytes() == g.tobytes() for f, g in zip(first, again))


def _bad_label_error(device: str) -> tuple[str, str]:
    logits = on(device, np.zeros((3, 4), np.float32))
    labels = on(device, np.array([1, 7, 2, -1][:3], np.int32))
    loss = F.nn.cross_entropy(logits, labels)  # the line the error names
    with pytest.raises(OpError) as info:
        loss.item()
    return str(info.value), loss._node.meta.location


def test_a_bad_label_is_reported_where_the_loss_is_read():
    gpu_message, line = _bad_label_error("gpu0")
    cpu_message, _ = _bad_label_error("cpux")
    assert line in gpu_message and "label 7" in gpu_message
    assert gpu_message == cpu_message  # the CPU's words, the same line
    logits = on("gpu0", np.zeros((3, 4), np.float32))
    good = F.nn.cross_entropy(logits, on("gpu0", np.array([1, 0, 2], np.int32)))
    assert good.item() == pytest.approx(np.log(4.0), rel=1e-6)  # the error was cleared


def _mlp_training(device: str, optimizer: str, steps: int = 2):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, 8, 16)).astype(np.float32)
    ys = rng.integers(0, 10, (steps, 8)).astype(np.int32)
    gc.random.seed(5)
    model = M.Sequential(M.Linear(16, 12), M.ReLU(), M.Linear(12, 10))
    model.to(device)
    params = list(model.parameters())
    opt = (optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd"
           else optim.Adam(params, lr=0.01))
    gm = GradManager().attach(params)
    losses = []
    for step in range(steps):
        x, y = on(device, xs[step]), on(device, ys[step])
        with gm:
            loss = F.nn.cross_entropy(model(x), y)
            gm.backward(loss)
        opt.step()
        opt.clear_grad()
        losses.append(loss.item())
    return np.array(losses), [p.numpy() for p in params]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_mlp_trains_on_the_gpu_as_on_the_cpu(optimizer):
    gpu_losses, gpu_weights = _mlp_training("gpu0", optimizer)
    cpu_losses, cpu_weights = _mlp_training("cpux", optimizer)
    largest = max(np.max(np.abs(gpu_losses - cpu_losses)),
                  *(np.max(np.abs(g - c)) for g, c in zip(gpu_weights, cpu_weights)))
    print(f"{optimizer}: largest GPU-CPU difference {largest:.3g}")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5, atol=1e-6)
    for g, c in zip(gpu_weights, cpu_weights):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)


def test_the_default_device_gpux_builds_on_the_gpu():
    before = gc.get_default_device()
    gc.set_default_device("gpux")
    try:
        t = gc.tensor([1.0, 2.0]) * 2
        assert is_device_array(gc.tensor([3.0])._node.buffer)
        np.testing.assert_array_equal(t.numpy(), [2.0, 4.0])
    finally:
        gc.set_default_device(before)


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="the simulator's kernel context is process-global: it cannot "
                    "launch kernels from two threads at once (runs on a GPU)")
def test_two_threads_get_the_single_thread_results():
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((4, 20)).astype(np.float32) for _ in range(2)]
    want = [F.softmax(on("gpu0", a), axis=1).numpy() for a in arrays]
    got: dict[int, list] = {0: [], 1: []}

    def work(k: int) -> None:
        for _ in range(2):
            got[k].append(F.softmax(on("gpu0", arrays[k]), axis=1).numpy())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(2):
        assert len(got[k]) == 2, "a thread failed"
        assert all(g.tobytes() == want[k].tobytes() for g in got[k])


def test_optimizer_updates_write_over_the_old_weights_on_the_gpu():
    rng = np.random.default_rng(6)
    model = M.Linear(6, 3).to("gpu0")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    gm = GradManager().attach(model.parameters())
    x = on("gpu0", rng.standard_normal((4, 6)).astype(np.float32))
    buffers = []
    for _ in range(3):
        with gm:
            gm.backward((model(x) ** 2).mean())
        opt.step()
        opt.clear_grad()
        buffers.append(model.weight._node.buffer)
    # From the second step on, the new weights are written over the old ones (donated).
    assert buffers[2] is buffers[1] and is_device_array(buffers[2])


def test_megengines_stream_suffix_selects_the_stream():
    from graphc.runtime import link_cuda

    a = np.arange(6, dtype=np.float32)
    before = gc.get_default_device()
    try:
        gc.set_default_device("gpu0:1")
        x = gc.tensor(a)
        y = (x * 2 + 1)
        gc.realize(y)
        assert link_cuda._selected[0] == 1
        arenas = [arena for compiled in _programs_run() for arena in compiled]
        assert any(arena.stream is link_cuda.named_stream(1) for arena in arenas)
        np.testing.assert_array_equal(y.numpy(), a * 2 + 1)
        gc.set_default_device("gpu0")
        z = x * 3 - 1
        gc.realize(z)
        np.testing.assert_array_equal(z.numpy(), a * 3 - 1)
        assert link_cuda._selected[0] is None
    finally:
        gc.set_default_device(before)


def _programs_run():
    from graphc.runtime.compiler import _programs

    return [c.program._arenas for c in _programs.values() if c.program.device is not None]


def _jit_losses(device: str) -> list[float]:
    rng = np.random.default_rng(7)
    gc.random.seed(8)
    model = M.Sequential(M.Linear(6, 5), M.ReLU(), M.Linear(5, 3)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.1)
    gm = GradManager().attach(model.parameters())

    @gc.jit
    def step(x, y):
        with gm:
            loss = F.nn.cross_entropy(model(x), y)
            gm.backward(loss)
        opt.step()
        opt.clear_grad()
        return loss

    losses = []
    for _ in range(3):  # the first call traces, the next replay the compiled Program
        x = on(device, rng.standard_normal((4, 6)).astype(np.float32))
        y = on(device, rng.integers(0, 3, 4).astype(np.int32))
        losses.append(step(x, y).item())
    return losses


def test_a_jitted_training_step_runs_on_the_gpu_as_on_the_cpu():
    np.testing.assert_allclose(_jit_losses("gpu0"), _jit_losses("cpux"), rtol=1e-5,
                               atol=1e-6)


def _regularised_training(device: str, optimizer: str, clip: str) -> list[np.ndarray]:
    """Two steps of a model with BatchNorm statistics, a Dropout mask (drawn on the host,
    uploaded: the same bits on both devices), gradient clipping and an optimizer state."""
    rng = np.random.default_rng(0)
    gc.random.seed(3)
    # (No bias before BatchNorm: its gradient is zero up to rounding, which Adam's
    # normalisation would turn into full steps of either sign.)
    model = M.Sequential(M.Linear(6, 8, bias=False), M.BatchNorm1d(8), M.ReLU(),
                         M.Dropout(0.3), M.Linear(8, 3)).to(device)
    params = list(model.parameters())
    opt = {"adamw": lambda: optim.AdamW(params, lr=0.01),
           "adagrad": lambda: optim.Adagrad(params, lr=0.01)}[optimizer]()
    gm = GradManager().attach(params)
    losses = []
    for _ in range(2):
        x = on(device, rng.standard_normal((5, 6)).astype(np.float32))
        y = on(device, rng.integers(0, 3, 5).astype(np.int32))
        with gm:
            loss = F.nn.cross_entropy(model(x), y)
            gm.backward(loss)
        if clip == "norm":
            optim.clip_grad_norm(params, 1.0)
        else:
            optim.clip_grad_value(params, -0.5, 0.5)
        opt.step()
        opt.clear_grad()
        losses.append(loss.item())
    return [np.array(losses)] + [t.numpy() for t in model.tensors()]


@pytest.mark.parametrize(("optimizer", "clip"), [("adamw", "value"), ("adagrad", "value"),
                                               ("adagrad", "norm")])
def test_batchnorm_dropout_clipping_and_optimizer_states_on_the_gpu(optimizer, clip):
    gpu = _regularised_training("gpu0", optimizer, clip)
    cpu = _regularised_training("cpux", optimizer, clip)
    for g, c in zip(gpu, cpu):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)


def test_float16_is_stored_and_computed_in_float32_on_the_gpu():
    a = np.linspace(-2, 2, 10).astype(np.float16)
    gpu = F.exp(on("gpu0", a)) * 2 + on("gpu0", a).sum()
    cpu = F.exp(on("cpux", a)) * 2 + on("cpux", a).sum()
    assert gpu.dtype == np.float16
    np.testing.assert_array_equal(gpu.numpy(), cpu.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_python_numbers_in_gradients_run_on_the_gpu(dtype):
    # A Python number is a runtime scalar, on the host; its gradient broadcasts it (a
    # view of a host number, which the GPU linker puts on the device first).
    a = np.linspace(-1, 1, 12).reshape(3, 4).astype(dtype)

    def run(device: str) -> list[np.ndarray]:
        x = on(device, a)
        outs = [gc.grad((x * 0.5).sum(), x), gc.grad((x * x).sum() * 3, x)]
        gc.realize(*outs)
        return [t.numpy() for t in outs]

    for gpu, cpu in zip(run("gpu0"), run("cpux")):
        assert gpu.dtype == dtype
        np.testing.assert_array_equal(gpu, cpu)
