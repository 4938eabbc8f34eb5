"""``make demo``: a short lazy-graph example (training arrives with the training issue)."""

from __future__ import annotations

import time

import numpy as np

import graphc
import graphc.functional as F
from graphc.ir import count_nodes


def main() -> None:
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((4, 8)))
    w = graphc.tensor(rng.standard_normal((8, 3)))
    b = graphc.tensor(np.zeros(3))

    t0 = time.perf_counter()
    logits = F.relu(x @ w + b)
    probs = F.softmax(logits, axis=1)
    built = time.perf_counter() - t0
    print(f"built a graph of {count_nodes([probs._node])} nodes in {built * 1e3:.2f} ms; "
          f"nothing has run yet (realized: {probs._node.realized})")

    t0 = time.perf_counter()
    value = probs.numpy()
    print(f"realized with the {graphc.lazy.backend()} backend in "
          f"{(time.perf_counter() - t0) * 1e3:.2f} ms")
    print("row sums of softmax:", np.round(value.sum(axis=1), 6))
    print(probs)

    y = graphc.tensor(1.0)
    for step in range(1, 1001):
        y = y * 0.5 + 1
        if step % 100 == 0:
            y.numpy()
    print(f"1000 lazy steps of y = y * 0.5 + 1 -> {y.item():.6f} (fixed point 2); "
          f"graph kept: {count_nodes([y._node])} node(s)")


if __name__ == "__main__":
    main()
