"""An SGD weight update three ways, median µs: NumPy's product then a one-pass numba update
(what graphc did before the ``matmul_accumulate`` pass), the product accumulated by BLAS
into a copy of the weight, and accumulated into the weight's own buffer (a traced step).

    .venv/bin/python scripts/bench_gemm_update.py
"""

from __future__ import annotations

import numba
import numpy as np
from graphc.kernels.cpu.blas import gemm_accumulate

from graphc.bench.harness import median_seconds


@numba.njit(nogil=True, fastmath={"reassoc"})
def _update(w, g, lr, out):
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            out[i, j] = w[i, j] - lr * g[i, j]


def _cases(w: np.ndarray, g: np.ndarray, x: np.ndarray, lr: np.float32) -> list:
    """The three ways to compute ``w - lr * (gᵀ·x)``."""
    gw, out, own = np.empty_like(w), np.empty_like(w), w.copy()

    def product_then_update():
        np.matmul(g.T, x, out=gw)
        _update(w, gw, lr, out)

    def into_copy():
        np.copyto(out, w)
        gemm_accumulate(out, g.T, x, -float(lr), 1.0)

    def in_place():
        gemm_accumulate(own, g.T, x, -float(lr), 1.0)

    return [product_then_update, into_copy, in_place]


def main() -> None:
    rng = np.random.default_rng(0)
    lr = np.float32(0.01)
    print(f"{'weight':>9} {'batch':>5} {'product+update':>15} {'gemm into copy':>15} "
          f"{'gemm in place':>14}")
    for fan_out, fan_in, batch in [(512, 784, 128), (512, 512, 128), (512, 784, 16),
                                   (512, 512, 16)]:
        x = rng.standard_normal((batch, fan_in)).astype(np.float32)
        g = rng.standard_normal((batch, fan_out)).astype(np.float32)
        w = rng.standard_normal((fan_out, fan_in)).astype(np.float32)
        times = [median_seconds(f, repeat=300) * 1e6 for f in _cases(w, g, x, lr)]
        print(f"{fan_out}x{fan_in:<5} {batch:>5} " + " ".join(f"{t:>14.1f}" for t in times))


if __name__ == "__main__":
    main()
