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


def progress(epoch: int, epochs: int, loss: float, rate: float) -> None:
    done = int(30 * epoch / epochs)
    sys.stdout.write(f"\r  [{'#' * done}{'.' * (30 - done)}] epoch {epoch}/{epochs} "
                     f"loss {loss:.4f}  {rate:,.0f} steps/s")
    sys.stdout.flush()


def main(epochs: int = 30, batch: int = 64) -> float:
    x_train, y_train, x_test, y_test = load_digits()
    rng = np.random.default_rng(0)
    graphc.random.seed(0)
    model = mlp()
    gm = GradManager().attach(model.parameters())
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    print(f"graphc {graphc.__version__}: {model}\non digits ({len(x_train)} train, "
          f"{len(x_test)} test), batch {batch}, SGD with momentum, backend "
          f"{graphc.lazy.backend()}")
    steps, t_start = 0, time.perf_counter()
    first_step_s = None
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        t0 = time.perf_counter()
        epoch_steps = 0
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            x = graphc.tensor(x_train[idx])
            with gm:
                loss = F.cross_entropy(model(x), graphc.tensor(y_train[idx]))
                gm.backward(loss)
            opt.step().clear_grad()
            steps += 1
            epoch_steps += 1
            if first_step_s is None:
                first_step_s = time.perf_counter() - t_start
        progress(epoch, epochs, loss.item(), epoch_steps / (time.perf_counter() - t0))
    total = time.perf_counter() - t_start
    print()
    predicted = model(graphc.tensor(x_test)).numpy().argmax(axis=1)
    accuracy = float((predicted == y_test).mean())
    step_programs = [c for c in compiler._programs.values() if len(c.fused.kernels) > 3]
    kernels = max((len(c.fused.kernels) for c in step_programs), default=0)
    print(f"test accuracy {accuracy:.2%} after {steps} steps in {total:.2f} s "
          f"({steps / total:,.0f} steps/s overall)")
    print(f"first step {first_step_s:.2f} s (graph compilation plus numba's, whose machine "
          f"code is cached on disk for the next run); "
          f"{compiler.stats['programs_compiled']} programs compiled in "
          f"{compiler.stats['compile_seconds']:.2f} s of graph compilation, "
          f"{compiler.stats['program_hits']} cache hits; a training step runs "
          f"{kernels} kernels")
    return accuracy


if __name__ == "__main__":
    main()
