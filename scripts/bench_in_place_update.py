"""An SGD update of a 512x784 float32 weight three ways, as numba kernels like graphc's:
into a fresh buffer, in place through one parameter (graphc's in-place variant), and in
place with the array passed as two parameters (LLVM's alias check then takes its scalar
loop). Median µs per update, with caches flushed before each call and warm.

    python scripts/bench_in_place_update.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from numba import njit


@njit(nogil=True, fastmath={"reassoc"})
def into(in0, s1, in2, out3, sh):
    for i0 in range(sh[0]):
        for i1 in range(sh[1]):
            out3[i0, i1] = in0[i0, i1] - s1 * in2[i0, i1]


@njit(nogil=True, fastmath={"reassoc"})
def in_place(in0, s1, in2, sh):
    for i0 in range(sh[0]):
        for i1 in range(sh[1]):
            in0[i0, i1] = in0[i0, i1] - s1 * in2[i0, i1]


def main() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((512, 784), dtype=np.float32)
    g = rng.standard_normal((512, 784), dtype=np.float32)
    flush = np.ones(8_000_000, np.float32)  # 32 MB: evicts the weight from the caches
    s, sh = np.float32(0.01), np.array(w.shape, np.int64)
    state = {"w": w}

    def fresh():
        out = np.empty_like(state["w"])
        into(state["w"], s, g, out, sh)
        state["w"] = out  # the caller keeps the new buffer, as a step does

    cases = {"fresh buffer": fresh, "in place": lambda: in_place(w, s, g, sh),
             "same array twice": lambda: into(w, s, g, w, sh)}
    for fn in cases.values():
        fn()
    for cold in (True, False):
        row = []
        for name, fn in cases.items():
            times = []
            for _ in range(200):
                if cold:
                    flush.sum()
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            row.append(f"{name} {statistics.median(times) * 1e6:.0f}")
        print(("flushed: " if cold else "warm:    ") + ", ".join(row) + " µs")


if __name__ == "__main__":
    main()
