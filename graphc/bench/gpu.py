"""The GPU benchmark (issue 17): graphc's CUDA backend against a device-to-device copy,
cuBLAS through PyTorch and PyTorch CUDA eager, measured in one run on one GPU.

- **gelu chain** over 64M float32 (one fused kernel: read x, write y) as GB/s, against
  a device-to-device copy of the same bytes in the same run (target ≥ 70%);
- **row softmax** of 8192×4096 float32 (one kernel, a block per row) as GB/s against
  the copy (target ≥ 50%);
- **matmul** 4096² float32: graphc's (cuBLAS through CuPy) and PyTorch's with TF32 off,
  as TFLOP/s (target ≥ 80% of PyTorch's); graphc's numba-only tiled kernel is reported;
- **MLP step** 784-512-512-10, batch 128, SGD: one lazy training step against PyTorch
  CUDA eager (target ≤ PyTorch's time);
- **CNN steps** (issue 18): LeNet-5 at batch 64 and ResNet-18 (3×224×224) at batch 32
  against PyTorch CUDA eager with TF32 off in matmul and cuDNN (graphc/bench/models
  has both twins). Each training step also says where graphc's time goes: one more
  step with every kernel timed alone, summed by family (conv, pool, matmul, index,
  copy, fused loop kernels).

GPU times are medians of event-timed (or synchronised wall-clock) runs. ``dry_run``
shrinks every size so the whole thing runs under numba's CUDA simulator in CI (its
numbers mean nothing; it checks the script works end to end).

>>> sizes(dry_run=True)["gelu"], sizes(dry_run=False)["gelu"] == 64 << 20
(4096, True)
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np


def sizes(dry_run: bool) -> dict:
    """Problem sizes: the issue's, or tiny ones for the simulator."""
    if dry_run:
        return {"gelu": 4096, "softmax": (4, 64), "matmul": 8, "mlp": (16, 8, 8, 4, 4),
                "lenet5": 1, "resnet18": None, "repeat": 1}
    return {"gelu": 64 << 20, "softmax": (8192, 4096), "matmul": 4096,
            "mlp": (784, 512, 512, 10, 128), "lenet5": 64, "resnet18": 32, "repeat": 20}


def synchronize() -> None:
    from numba import cuda

    cuda.synchronize()


def gpu_seconds(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` with the GPU synchronised around each call."""
    from graphc.backends.cuda_device import simulated

    for _ in range(1 if simulated() else warmup):
        fn()
    synchronize()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def copy_gbs(n_bytes: int, repeat: int) -> float:
    """GB/s of a device-to-device copy of ``n_bytes`` (read + write counted)."""
    from numba import cuda

    src = cuda.device_array(n_bytes // 4, np.float32)
    dst = cuda.device_array(n_bytes // 4, np.float32)
    seconds = gpu_seconds(lambda: dst.copy_to_device(src), repeat)
    return 2 * n_bytes / seconds / 1e9


def gelu_gbs(n: int, repeat: int) -> float:
    import graphc as gc
    import graphc.functional as F

    x = gc.tensor(np.random.default_rng(0).standard_normal(n).astype(np.float32),
                  device="gpu0")

    def run() -> None:
        gc.realize(F.gelu(x * 1.5 + 0.25))

    return 2 * 4 * n / gpu_seconds(run, repeat) / 1e9


def softmax_gbs(shape: tuple[int, int], repeat: int) -> float:
    import graphc as gc
    import graphc.functional as F

    x = gc.tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32),
                  device="gpu0")
    seconds = gpu_seconds(lambda: gc.realize(F.softmax(x, axis=1)), repeat)
    return 2 * 4 * shape[0] * shape[1] / seconds / 1e9


def matmul_tflops(n: int, repeat: int) -> dict[str, float]:
    """TFLOP/s of an n×n float32 product: graphc (its backend's kernel), graphc's tiled
    numba kernel alone, and PyTorch with TF32 off (where installed)."""
    import graphc as gc
    from graphc.backends.cuda_device import simulated
    from graphc.kernels.cuda import matmul as tiled

    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    ga, gb = gc.tensor(a, device="gpu0"), gc.tensor(b, device="gpu0")
    flops = 2 * n**3
    result = {"graphc": flops / gpu_seconds(lambda: gc.realize(ga @ gb), repeat) / 1e12}
    out = gc.tensor(np.empty((n, n), np.float32), device="gpu0")._node.buffer
    da, db = ga._node.buffer, gb._node.buffer
    tile = 4 if simulated() else None  # (the simulator runs each thread in Python)
    result["graphc tiled (numba)"] = flops / gpu_seconds(
        lambda: tiled.matmul_into(da, db, out, tile=tile), max(1, repeat // 4)) / 1e12
    torch = _torch_cuda()
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        result["torch"] = flops / gpu_seconds(lambda: ta @ tb, repeat) / 1e12
    return result


# Library ops by family, for where a step's time goes; other steps are fused loop kernels.
_FAMILIES = {"conv": ("conv2d",), "pool": ("max_pool2d", "avg_pool2d"), "matmul": ("matmul",),
             "index": ("index", "setitem", "gather", "scatter_add", "concat", "check_index"),
             "copy": ("to_device",)}


def step_family(name: str) -> str:
    """The family of a Program step named ``name`` (``k3_conv2d_backward_data``).

    >>> step_family("k3_conv2d_backward_data"), step_family("k4_add"), step_family("const")
    ('conv', 'loop kernels', 'setup')
    """
    if name.startswith(("view", "const")):
        return "setup"
    op = name.split("_", 1)[-1]
    for family, prefixes in _FAMILIES.items():
        if op.startswith(prefixes):
            return family
    return "loop kernels"


@contextlib.contextmanager
def step_profile(into: dict[str, float]) -> Iterator[None]:
    """Time every Program step with the GPU synchronised after it and add the
    milliseconds to ``into`` by family (:func:`step_family`). Synchronising serialises
    the work, so the sum exceeds a plain step's time; the shares are what it says."""
    from graphc.runtime import program

    original = program.Program.run_steps

    def run_steps(prog, vals) -> None:
        for step in prog.steps:
            t0 = time.perf_counter()
            step.run(vals)
            synchronize()
            family = step_family(step.name)
            into[family] = into.get(family, 0.0) + 1e3 * (time.perf_counter() - t0)

    program.Program.run_steps = run_steps
    try:
        yield
    finally:
        program.Program.run_steps = original


def training_step_ms(model, torch_model, x: np.ndarray, y: np.ndarray, repeat: int,
                     lr: float = 0.01) -> dict[str, float]:
    """Milliseconds per SGD (momentum 0.9) training step with cross-entropy on the batch
    ``(x, y)``: graphc's ``model`` (lazy, on gpu0) and, where PyTorch sees a GPU,
    ``torch_model()`` (eager, TF32 off in matmul and cuDNN)."""
    import graphc as gc
    import graphc.functional as F
    import graphc.optimizer as optim
    from graphc.autodiff import GradManager

    model.to("gpu0")
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gm = GradManager().attach(model.parameters())
    gx, gy = gc.tensor(x, device="gpu0"), gc.tensor(y, device="gpu0")

    def step() -> None:
        with gm:
            loss = F.nn.cross_entropy(model(gx), gy)
            gm.backward(loss)
        opt.step()
        opt.clear_grad()

    result = {"graphc": 1e3 * gpu_seconds(step, repeat, warmup=3)}
    shares: dict[str, float] = {}
    with step_profile(shares):  # one more step, each kernel timed on its own
        step()
    synchronize()
    result.update((f"({family})", ms) for family, ms in sorted(shares.items()))
    torch = _torch_cuda()
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        net = torch_model().cuda()
        topt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).long().cuda()

        def torch_step() -> None:
            topt.zero_grad()
            torch.nn.functional.cross_entropy(net(tx), ty).backward()
            topt.step()

        result["torch"] = 1e3 * gpu_seconds(torch_step, repeat, warmup=3)
    return result


def mlp_step_ms(dims: tuple[int, ...], repeat: int) -> dict[str, float]:
    """An MLP's training step (widths ``dims[:-1]``, batch ``dims[-1]``)."""
    import graphc.module as M

    *widths, batch = dims

    def layers(nn, relu):
        out: list = []
        for i in range(len(widths) - 1):
            out += [nn.Linear(widths[i], widths[i + 1]), relu()]
        return out[:-1]

    def torch_model():
        from torch import nn

        return nn.Sequential(*layers(nn, nn.ReLU))

    x, y = _batch(batch, (widths[0],), widths[-1])
    return training_step_ms(M.Sequential(*layers(M, M.ReLU)), torch_model, x, y, repeat)


def cnn_step_ms(name: str, batch: int, shape: tuple[int, ...], repeat: int,
                classes: int = 10) -> dict[str, float]:
    """LeNet-5 or ResNet-18 (graphc/bench/models) training steps."""
    from . import models

    x, y = _batch(batch, shape, classes)
    if name == "lenet5":
        return training_step_ms(models.lenet5(), models.torch_lenet5, x, y, repeat)
    return training_step_ms(models.resnet18(classes), lambda: models.torch_resnet18(classes),
                            x, y, repeat)


def _batch(batch: int, shape: tuple[int, ...], classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return (rng.standard_normal((batch, *shape)).astype(np.float32),
            rng.integers(0, classes, batch).astype(np.int32))


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def run(dry_run: bool = False) -> dict:
    """Every measurement, as a dict (printed by :func:`report`)."""
    s = sizes(dry_run)
    repeat = s["repeat"]
    copy = copy_gbs(4 * s["gelu"], repeat)
    rows, cols = s["softmax"]
    results = {
        "copy GB/s (gelu bytes)": copy,
        "gelu GB/s": gelu_gbs(s["gelu"], repeat),
        "copy GB/s (softmax bytes)": copy_gbs(4 * rows * cols, repeat),
        "softmax GB/s": softmax_gbs((rows, cols), repeat),
        "matmul TFLOP/s": matmul_tflops(s["matmul"], repeat),
        "MLP step ms": mlp_step_ms(s["mlp"], repeat),
    }
    results["LeNet-5 step ms"] = cnn_step_ms("lenet5", s["lenet5"], (1, 28, 28), repeat)
    if s["resnet18"]:  # (too slow for the simulator)
        results["ResNet-18 step ms"] = cnn_step_ms("resnet18", s["resnet18"], (3, 224, 224),
                                                   max(3, repeat // 4), classes=1000)
    return results


def report(results: dict) -> str:
    """The results as text, with each target's ratio."""
    lines = []
    for name, value in results.items():
        if isinstance(value, dict):
            lines.append(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in value.items()))
        else:
            lines.append(f"{name}: {value:.4g}")
    gelu = results["gelu GB/s"] / results["copy GB/s (gelu bytes)"]
    soft = results["softmax GB/s"] / results["copy GB/s (softmax bytes)"]
    lines.append(f"gelu / copy bandwidth: {gelu:.1%} (target >= 70%)")
    lines.append(f"softmax / copy bandwidth: {soft:.1%} (target >= 50%)")
    mm = results["matmul TFLOP/s"]
    if "torch" in mm:
        lines.append(f"matmul graphc / torch: {mm['graphc'] / mm['torch']:.1%} (target >= 80%)")
    for name in ("MLP step ms", "LeNet-5 step ms", "ResNet-18 step ms"):
        step = results.get(name, {})
        if "torch" in step:
            lines.append(f"{name[:-8]} step graphc / torch: "
                         f"{step['graphc'] / step['torch']:.2f}x (target <= 1 for the MLP)")
    return "\n".join(lines)
