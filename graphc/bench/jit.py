"""Define-then-run benchmarks (issue: define-then-run).

- the per-call overhead of a jitted one-kernel function on tiny inputs (what a cached
  call costs beyond its kernel), beside ``graphc.function`` and the bare Program run;
- the MLP 784-512-512-10 training step (forward, cross-entropy, backward, SGD) at batch
  128 and 16 through ``@graphc.jit``, against graphc's lazy path, the hand-written NumPy
  step and PyTorch eager from :mod:`graphc.bench.training`, and JAX ``jit`` when
  installed.

Medians of repeated calls; the training steps run in interleaved rounds and their ratios
are medians of same-round ratios. The machine facts (OPENBLAS variables, thread
counts) are printed first.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.optimizer import SGD

from . import training
from .harness import environment, interleaved_rounds

LR = training.LR


def per_call_us(fn: Callable[[], object], calls: int = 2000, rounds: int = 7) -> float:
    """Median over ``rounds`` of the mean time of ``calls`` back-to-back calls, in µs."""
    for _ in range(50):
        fn()
    means = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        means.append((time.perf_counter() - t0) / calls)
    return statistics.median(means) * 1e6


def overhead() -> dict[str, float]:
    """µs per call of ``x * y + 1`` on 4-element float32 arrays, three ways."""
    @graphc.jit
    def tiny(x, y):
        return x * y + 1

    a, b = np.ones(4, np.float32), np.full(4, 2, np.float32)
    xp, yp = graphc.placeholder((4,), name="x"), graphc.placeholder((4,), name="y")
    fn = graphc.function([xp, yp], xp * yp + 1)
    tiny(a, b)
    program = tiny.compiled._current().program
    return {"jit call": per_call_us(lambda: tiny(a, b)),
            "graphc.function call": per_call_us(lambda: fn(a, b)),
            "Program.run alone": per_call_us(lambda: program.run([a, b])),
            "kernels": tiny.stats["kernels"]}


def jit_step(model: M.Module) -> Callable:
    """The documented training step under ``@graphc.jit``."""
    gm = GradManager().attach(model.parameters())
    opt = SGD(model.parameters(), lr=LR)

    @graphc.jit
    def step(x, y):
        with gm:
            loss = F.cross_entropy(model(x), y)
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    return step


def jax_step(x: np.ndarray, y: np.ndarray,
             weights: list[tuple[np.ndarray, np.ndarray]] | None = None
             ) -> Callable[[], object] | None:
    """A jax.jit MLP step with the same shapes (from ``weights``, the layers' (weight
    (in, out), bias), or random ones), returning each step's loss; None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if weights is None:
        rng = np.random.default_rng(1)
        sizes = [784, 512, 512, 10]
        weights = [(rng.standard_normal((a, b)) / np.sqrt(a), np.zeros(b))
                   for a, b in zip(sizes, sizes[1:])]
    params = [(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)) for w, b in weights]

    def loss_fn(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def update(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads)

    xj, yj = jnp.asarray(x), jnp.asarray(y)
    state = [params]

    def step():
        loss, state[0] = update(state[0], xj, yj)
        return jax.block_until_ready(loss)

    return step


def train_steps(rounds: int = 7, repeat: int = 8) -> list[dict]:
    """Median ms per MLP training step at batch 128 and 16, every way available, timed
    in interleaved rounds; ``ratios`` holds the same-round ratios of the jit step."""
    rows = []
    for batch in (128, 16):
        x, y = training.data(batch, (784,))
        graphc.random.seed(0)
        step = jit_step(training.mlp())
        xt, yt = graphc.tensor(x), graphc.tensor(y)
        graphc.random.seed(0)
        lazy = training.graphc_step(training.mlp(), x, y)
        r = interleaved_rounds({"jit": lambda s=step, a=xt, b=yt: s(a, b).numpy(),
                                "lazy": lambda s=lazy: s().numpy(),
                                "numpy": training.numpy_mlp_step(x, y),
                                "torch": training.torch_step("mlp", x, y),
                                "jax": jax_step(x, y)}, rounds, repeat)
        row = {"batch": batch, "traces": step.traces, "kernels": step.stats["kernels"]}
        row.update({name: r.median(name) * 1e3 for name in ("jit", "lazy", "numpy", "torch",
                                                             "jax")})
        row["ratios"] = {other: r.ratio("jit", other) for other in ("lazy", "numpy", "jax")}
        rows.append(row)
    return rows


def main() -> None:
    """Print the define-then-run tables."""
    print("\ngraphc define-then-run benchmarks")
    env = environment()
    for module in ("torch", "jax"):
        try:
            env[module] = __import__(module).__version__
        except ImportError:
            env[module] = "(not installed)"
    for k, v in env.items():
        print(f"  {k}: {v}")
    over = overhead()
    print("\nper-call overhead, x * y + 1 on 4 float32 elements (µs per call; target <= 15 "
          "for the jit call)")
    for k, v in over.items():
        print(f"  {k:<24}{v:>8.1f}" if k != "kernels" else f"  {k:<24}{v:>8}")
    print("\nMLP 784-512-512-10 train step (median ms; forward + backward + SGD)")
    cols = ("jit", "lazy", "numpy", "torch", "jax")
    print(f"{'batch':>6}" + "".join(f"{c:>9}" for c in cols)
          + f"{'jit/lazy':>10}{'jit/numpy':>11}{'jit/jax':>9}")
    for row in train_steps():
        t = {c: row.get(c, float("nan")) for c in cols}
        ratio = row["ratios"]
        print(f"{row['batch']:>6}" + "".join(f"{t[c]:>9.2f}" for c in cols)
              + f"{ratio['lazy']:>9.2f}x{ratio['numpy']:>10.2f}x{ratio['jax']:>8.2f}x")
    print("targets: jit <= 1.0x JAX at batch 128; at batch 16 <= 1.0x NumPy and <= 1.5x JAX "
          "(nan: not installed here)")


if __name__ == "__main__":
    main()
