"""``make demo``: train a classifier on scikit-learn's digits with compiled graphs.

Each training step (forward, backward and the SGD update) is one lazy graph that
``optimizer.step()`` realizes as one compiled Program; after the first steps every step
reuses it. The demo prints accuracy, steps per second, compile time and kernel counts.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc.autodiff import GradManager
from graphc.runtime import compiler
from graphc.runtime.progress import Progress


def load_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (shipped with the package, no download), split 80/20."""
    from sklearn.datasets import load_digits as sk_digits

    data = sk_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(0.8 * len(x))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def mlp() -> M.Module:
    """64 → 128 → 10 with ReLU."""
    return M.Sequential(M.Linear(64, 128), M.ReLU(), M.Linear(128, 10))


def cnn() -> M.Module:
    """A LeNet-style CNN for 1x8x8 images: two conv + max-pool blocks, two dense layers."""
    return M.Sequential(
        M.Conv2d(1, 16, 3, padding=1), M.ReLU(), M.MaxPool2d(2),
        M.Conv2d(16, 32, 3, padding=1), M.ReLU(), M.MaxPool2d(2), M.Flatten(),
        M.Linear(32 * 2 * 2, 64), M.ReLU(), M.Linear(64, 10))


MODELS = {"mlp": (mlp, (64,)), "cnn": (cnn, (1, 8, 8))}


def _step_kernels(before: set[int]) -> int:
    """Kernels in the largest Program compiled since ``before`` (the training step)."""
    new = [c for key, c in compiler._programs.items() if id(key) not in before]
    return max((c.program.stats["kernels"] for c in new), default=0)


def train(kind: str = "mlp", epochs: int = 30, batch: int = 64, lr: float = 0.1,
          seed: int = 0, verbose: bool = True) -> dict:
    """Train model ``kind`` ("mlp" or "cnn") on digits; returns what it measured.

    >>> result = train("mlp", epochs=1, verbose=False)
    >>> result["steps"], result["accuracy"] > 0.8
    (22, True)
    """
    build, shape = MODELS[kind]
    x_train, y_train, x_test, y_test = load_digits()
    x_train = x_train.reshape((-1,) + shape)
    x_test = x_test.reshape((-1,) + shape)
    rng = np.random.default_rng(seed)
    graphc.random.seed(seed)
    np.random.seed(seed)  # parameter initialisation draws from NumPy's global stream
    model = build()
    gm = GradManager().attach(model.parameters())
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    if verbose:
        print(f"\n{kind.upper()}: {model}\n  SGD with momentum, batch {batch}, backend "
              f"{graphc.lazy.backend()}")
    programs_before = {id(k) for k in compiler._programs}
    stats_before = dict(compiler.stats)
    steps, t_start = 0, time.perf_counter()
    first_step_s = None
    bar = None  # the epochs' progress: a bar on a terminal, a line every few seconds else
    compiled_after_epoch1 = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        t0 = time.perf_counter()
        epoch_steps = 0
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            with gm:
                loss = F.cross_entropy(model(graphc.tensor(x_train[idx])),
                                       graphc.tensor(y_train[idx]))
                gm.backward(loss)
            opt.step().clear_grad()
            steps += 1
            epoch_steps += 1
            if first_step_s is None:
                first_step_s = time.perf_counter() - t_start
        if epoch == 1:
            compiled_after_epoch1 = compiler.stats["programs_compiled"]
        if verbose:
            if bar is None:  # after the first epoch, whose step compiled (graphc's own
                # compile progress shows on stderr while that takes long)
                bar = Progress(f"  {kind}", total=epochs, unit="epochs", stream=sys.stdout,
                               started=t_start)
            bar.update(epoch, note=f"loss {loss.item():.4f}, "
                       f"{epoch_steps / (time.perf_counter() - t0):,.0f} steps/s")
    total = time.perf_counter() - t_start
    if bar is not None:
        bar.close(f"  {kind}: {epochs} epochs, {steps} steps in {total:.2f} s, "
                  f"final loss {loss.item():.4f}")
    compiles_after_epoch1 = compiler.stats["programs_compiled"] - compiled_after_epoch1
    model.eval()
    predicted = model(graphc.tensor(x_test)).numpy().argmax(axis=1)
    result = {
        "accuracy": float((predicted == y_test).mean()),
        "steps": steps,
        "seconds": total,
        "steps_per_second": steps / total,
        "first_step_seconds": first_step_s,
        "programs_compiled": compiler.stats["programs_compiled"]
        - stats_before["programs_compiled"],
        "compile_seconds": compiler.stats["compile_seconds"] - stats_before["compile_seconds"],
        "compiles_after_first_epoch": compiles_after_epoch1,
        "kernels_per_step": _step_kernels(programs_before),
    }
    if verbose:
        print(f"  test accuracy {result['accuracy']:.2%} after {steps} steps in "
              f"{total:.2f} s ({result['steps_per_second']:,.0f} steps/s overall)")
        print(f"  first step {first_step_s:.2f} s (graph compilation plus numba's, whose "
              f"machine code is cached on disk for the next run); "
              f"{result['programs_compiled']} programs compiled in "
              f"{result['compile_seconds']:.2f} s of graph compilation; a training step "
              f"runs {result['kernels_per_step']} kernels")
    return result


def main() -> dict:
    print(f"graphc {graphc.__version__}: training on scikit-learn's digits (8x8 images, "
          f"{len(load_digits()[0])} train / {len(load_digits()[2])} test), one compiled "
          f"Program per step")
    return {kind: train(kind) for kind in MODELS}


if __name__ == "__main__":
    main()
