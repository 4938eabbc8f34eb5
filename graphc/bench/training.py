"""Training-step benchmarks (issue: modules, optimizers and real training).

The same step — forward, cross-entropy, backward, SGD update — measured in one run for

- graphc's lazy path: build the graph with Modules, ``GradManager`` and ``SGD``;
  ``optimizer.step()`` realizes it as one cached Program;
- a hand-written NumPy step (forward and backward by hand, in-place updates);
- PyTorch eager on the CPU, when ``torch`` is installed.

graphc's own Python cost (building the graph, the structural key, dispatching the
Program's steps) is measured apart: the step's wall time minus the time spent inside
kernels and library calls. The three run in interleaved rounds (a shared machine's load
changes by the second); ratios are medians of same-round ratios: compare those, not
milliseconds.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.optimizer import SGD
from graphc.runtime import compiler, program

from .harness import environment, interleaved_rounds, report_process_latency
from .models import lenet5
from .profile import VIEWS, step_clock

LR = 0.01


# ---- models --------------------------------------------------------------------------

def mlp() -> M.Module:
    """The MLP 784-512-512-10 with ReLU."""
    return M.Sequential(M.Linear(784, 512), M.ReLU(), M.Linear(512, 512), M.ReLU(),
                        M.Linear(512, 10))


def lenet() -> M.Module:
    """LeNet-5 on 1x28x28 (graphc/bench/models)."""
    return lenet5()


def data(batch: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic batch, read-only as ``graphc.data`` batches are (so no contender
    copies it per step: graphc shares it, NumPy reads it, PyTorch wraps it once)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    x.flags.writeable = y.flags.writeable = False
    return x, y


# ---- graphc --------------------------------------------------------------------------

class KernelClock:
    """Accumulates the wall time spent inside Program steps that call kernels or
    libraries (everything else in a step is graphc's own Python overhead)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def _record(self, name: str, elapsed: float) -> None:
        if name != VIEWS:
            self.seconds += elapsed

    def installed(self) -> contextlib.AbstractContextManager[None]:
        """The clock, while the block runs (graphc.bench.profile.step_clock)."""
        return step_clock(self._record)


def graphc_step(model: M.Module, x: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    """One lazy training step per call: the user's loop, as written in the docs."""
    gm = GradManager().attach(model.parameters())
    opt = SGD(model.parameters(), lr=LR)

    def step():
        with gm:
            loss = F.cross_entropy(model(graphc.tensor(x)), graphc.tensor(y))
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    return step


class GraphcContender:
    """The lazy step as a benchmark contender: checked to compile once, then each call
    records its overhead (wall time minus time inside kernels, read off ``clock`` while
    it is installed)."""

    def __init__(self, model: M.Module, x: np.ndarray, y: np.ndarray) -> None:
        self.step = graphc_step(model, x, y)
        self.step()
        compiled_before = compiler.stats["programs_compiled"]
        self.step()
        self.step()
        if compiler.stats["programs_compiled"] != compiled_before:
            raise RuntimeError("the training step recompiled after its first call")
        self.clock = KernelClock()
        self.overheads: list[float] = []

    def __call__(self) -> None:
        self.clock.seconds = 0.0
        t0 = time.perf_counter()
        self.step()
        self.overheads.append(time.perf_counter() - t0 - self.clock.seconds)

    @staticmethod
    def kernels() -> int:
        """Kernels in the largest cached Program (the step's)."""
        return max(c.program.stats.get("kernels", 0) for c in compiler._programs.values())


# ---- NumPy by hand -------------------------------------------------------------------

def _softmax_xent_grad(logits: np.ndarray, y: np.ndarray,
                       loss: list | None = None) -> np.ndarray:
    """The gradient of mean cross-entropy with respect to ``logits`` (the loss itself
    appended to ``loss`` when given)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    if loss is not None:
        loss.append(np.float32(-np.mean(np.log(p[np.arange(len(y)), y]))))
    p[np.arange(len(y)), y] -= 1.0
    p /= len(y)
    return p


def numpy_mlp_step(x: np.ndarray, y: np.ndarray,
                   weights: list[tuple[np.ndarray, np.ndarray]] | None = None
                   ) -> Callable[[], np.float32]:
    """The MLP 784-512-512-10 step by hand; returns each step's loss. ``weights``: the
    layers' (weight (in, out), bias) to start from (random when None), updated in place."""
    if weights is None:
        rng = np.random.default_rng(1)
        sizes = [784, 512, 512, 10]
        weights = [((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32),
                    np.zeros(b, np.float32)) for a, b in zip(sizes, sizes[1:])]
    ws = [w for w, _ in weights]
    bs = [b for _, b in weights]

    def step():
        acts = [x]
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = acts[-1] @ w
            h += b
            if i < len(ws) - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        loss: list = []
        g = _softmax_xent_grad(acts[-1], y, loss)
        for i in range(len(ws) - 1, -1, -1):
            gw = acts[i].T @ g
            gb = g.sum(axis=0)
            if i:
                g = g @ ws[i].T
                g *= acts[i] > 0
            ws[i] -= LR * gw
            bs[i] -= LR * gb
        return loss[0]

    return step


def _conv_forward(x: np.ndarray, w: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation by im2col; returns (output, columns) for the backward pass."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    o, c, kh, kw = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    n, _, oh, ow = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    out = (cols @ w.reshape(o, -1).T).reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out), cols


def _conv_backward(g: np.ndarray, cols: np.ndarray, w: np.ndarray, x_shape: tuple,
                   pad: int, need_dx: bool) -> tuple[np.ndarray | None, np.ndarray]:
    o, c, kh, kw = w.shape
    n, _, oh, ow = g.shape
    g2 = g.transpose(0, 2, 3, 1).reshape(-1, o)
    gw = (g2.T @ cols).reshape(w.shape)
    if not need_dx:
        return None, gw
    dcols = (g2 @ w.reshape(o, -1)).reshape(n, oh, ow, c, kh, kw)
    hp, wp = x_shape[2] + 2 * pad, x_shape[3] + 2 * pad
    dx = np.zeros((n, c, hp, wp), np.float32)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + oh, j:j + ow] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx[:, :, pad:hp - pad, pad:wp - pad], gw


def _pool_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = blocks.max(axis=(3, 5))
    mask = blocks == out[:, :, :, None, :, None]
    return out, mask


def _pool_backward(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n, c, h, w = g.shape
    return (mask * g[:, :, :, None, :, None]).reshape(n, c, 2 * h, 2 * w)


def numpy_lenet_step(x: np.ndarray, y: np.ndarray,
                     params: dict[str, np.ndarray] | None = None) -> Callable[[], np.float32]:
    """The LeNet-5 step by hand; returns each step's loss. ``params``: the values to
    start from (conv weights (O, C, KH, KW), dense weights (in, out), biases (O,); keys
    as below), updated in place; random when None."""
    rng = np.random.default_rng(1)

    def init(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    def dense(fan_in, fan_out):
        return (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)

    p = params if params is not None else {
        "c1": init(6, 1, 5, 5), "c1b": np.zeros(6, np.float32),
        "c2": init(16, 6, 5, 5), "c2b": np.zeros(16, np.float32),
        "f1": dense(400, 120), "f1b": np.zeros(120, np.float32),
        "f2": dense(120, 84), "f2b": np.zeros(84, np.float32),
        "f3": dense(84, 10), "f3b": np.zeros(10, np.float32)}

    def step():
        a1, cols1 = _conv_forward(x, p["c1"], 2)
        a1 += p["c1b"][:, None, None]
        r1 = np.maximum(a1, 0)
        p1, m1 = _pool_forward(r1)
        a2, cols2 = _conv_forward(p1, p["c2"], 0)
        a2 += p["c2b"][:, None, None]
        r2 = np.maximum(a2, 0)
        p2, m2 = _pool_forward(r2)
        f0 = p2.reshape(len(x), -1)
        h1 = np.maximum(f0 @ p["f1"] + p["f1b"], 0)
        h2 = np.maximum(h1 @ p["f2"] + p["f2b"], 0)
        loss: list = []
        g = _softmax_xent_grad(h2 @ p["f3"] + p["f3b"], y, loss)
        grads = {"f3": h2.T @ g, "f3b": g.sum(0)}
        g = (g @ p["f3"].T) * (h2 > 0)
        grads.update(f2=h1.T @ g, f2b=g.sum(0))
        g = (g @ p["f2"].T) * (h1 > 0)
        grads.update(f1=f0.T @ g, f1b=g.sum(0))
        g = (g @ p["f1"].T).reshape(p2.shape)
        g = _pool_backward(g, m2) * (r2 > 0)
        dx, grads["c2"] = _conv_backward(g, cols2, p["c2"], p1.shape, 0, True)
        grads["c2b"] = g.sum(axis=(0, 2, 3))
        g = _pool_backward(dx, m1) * (r1 > 0)
        _, grads["c1"] = _conv_backward(g, cols1, p["c1"], x.shape, 2, False)
        grads["c1b"] = g.sum(axis=(0, 2, 3))
        for k, gk in grads.items():
            p[k] -= LR * gk
        return loss[0]

    return step


# ---- PyTorch -------------------------------------------------------------------------

def torch_step(kind: str, x: np.ndarray, y: np.ndarray) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    nn = torch.nn
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()

    return step


CASES = (("MLP 784-512-512-10", "mlp", mlp, (784,), 128),
         ("MLP 784-512-512-10", "mlp", mlp, (784,), 16),
         ("LeNet-5 1x28x28", "lenet", lenet, (1, 28, 28), 64))


def main(rounds: int = 7, repeat: int = 10) -> None:
    """Print the train-step table: graphc lazy, NumPy by hand, PyTorch eager, timed in
    interleaved rounds (:func:`~graphc.bench.harness.interleaved_rounds`)."""
    print("\ngraphc training-step benchmarks (median ms per step; forward + backward + SGD)")
    env = environment()
    try:
        import torch

        env["torch"] = f"{torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        env["torch"] = "(not installed: pip install torch==2.13.0)"
    for k, v in env.items():
        print(f"  {k}: {v}")
    print(f"  timing: {rounds} interleaved rounds of {repeat} steps each; ms are medians of "
          f"round medians, ratios medians of same-round ratios")
    print(f"\n{'model':<22}{'batch':>6}{'graphc':>9}{'overhead':>10}{'kernels':>9}"
          f"{'NumPy':>8}{'PyTorch':>9}{'vs NumPy':>10}{'vs torch':>10}")
    for label, kind, build, shape, batch in CASES:
        x, y = data(batch, shape)
        graphc.random.seed(0)
        contender = GraphcContender(build(), x, y)
        numpy_step = numpy_mlp_step(x, y) if kind == "mlp" else numpy_lenet_step(x, y)
        with contender.clock.installed():
            r = interleaved_rounds({"graphc": contender, "numpy": numpy_step,
                                    "torch": torch_step(kind, x, y)}, rounds, repeat)
        t_over = statistics.median(contender.overheads) * 1e3
        print(f"{label:<22}{batch:>6}{r.median('graphc') * 1e3:>9.2f}{t_over:>10.2f}"
              f"{contender.kernels():>9}{r.median('numpy') * 1e3:>8.2f}"
              f"{r.median('torch') * 1e3:>9.2f}{r.ratio('graphc', 'numpy'):>9.2f}x"
              f"{r.ratio('graphc', 'torch'):>9.2f}x")
    print("overhead: graphc's own Python per step (graph building, key, dispatch), i.e. "
          "step time minus time inside kernels and BLAS calls")
    build_ms = graph_building_seconds(repeat=300) * 1e3
    print(f"graph building alone (MLP step, batch 16, Program.run stubbed, min thread time "
          f"of 300 steps): {build_ms:.2f} ms per step (target < 0.5 ms)")


@contextlib.contextmanager
def kernels_stubbed() -> Iterator[None]:
    """``Program.run`` returns each Program's outputs of its first run inside the block,
    so a step costs only its Python: building the graph, the key, the lookup."""
    original = program.Program.run
    outputs: dict[int, list] = {}

    def replay(prog, args, donate=()):
        if id(prog) not in outputs:
            outputs[id(prog)] = [np.array(o) for o in original(prog, args)]
        return list(outputs[id(prog)])

    program.Program.run = replay
    try:
        yield
    finally:
        program.Program.run = original


def stubbed_mlp_step() -> Callable[[], object]:
    """The lazy MLP step at batch 16, run three times with its kernels (compiled)."""
    x, y = data(16, (784,))
    step = graphc_step(mlp(), x, y)
    for _ in range(3):
        step()
    return step


def graph_building_seconds(repeat: int = 300) -> float:
    """The lazy step's pure Python cost: build forward, backward and SGD update, find the
    Program by key and "run" it, under :func:`kernels_stubbed`. Minimum of
    ``time.thread_time`` per step (a CPU-time minimum is what survives a shared, noisy
    machine)."""
    step = stubbed_mlp_step()
    best = float("inf")
    with kernels_stubbed():
        for _ in range(repeat):
            t0 = time.thread_time()
            step()
            best = min(best, time.thread_time() - t0)
    return best


STEP_SCRIPT = """
import numpy as np, graphc, graphc.functional as F, graphc.module as M
from graphc.autodiff import GradManager
from graphc.optimizer import SGD
net = M.Sequential(M.Linear(784, 512), M.ReLU(), M.Linear(512, 512), M.ReLU(), M.Linear(512, 10))
gm = GradManager().attach(net.parameters())
opt = SGD(net.parameters(), lr=0.01)
x = graphc.tensor(np.ones((128, 784), np.float32))
y = graphc.tensor(np.zeros(128, np.int32))
for _ in range(2):
    with gm:
        loss = F.cross_entropy(net(x), y)
        gm.backward(loss)
    opt.step().clear_grad()
    loss.item()
"""


def step_compile_latency() -> None:
    """Whole-process wall time of two MLP train steps, cold and warm kernel cache."""
    report_process_latency("MLP train step compile latency, 2 steps", STEP_SCRIPT,
                           "cold <= 4 s, warm - bare <= 0.5 s")


if __name__ == "__main__":
    main()
    step_compile_latency()
