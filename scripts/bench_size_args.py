"""Per-call cost of a kernel's sizes: one int64 array ``sh`` against integer parameters.

The kernel IR passes sizes as integer parameters; the CPU renderer packs them into one
array. This measures numba's dispatch of a 4x4 map kernel called both ways (best of 7
runs of 100,000 calls), which is what decided it (docs/performance.md, issue 15).

    python scripts/bench_size_args.py
"""

import time

import numpy as np
from numba import njit


@njit(nogil=True)
def with_array(a, o, sh):
    for i0 in range(sh[0]):
        for i1 in range(sh[1]):
            o[i0, i1] = a[i0, i1] + 1


@njit(nogil=True)
def with_two(a, o, n0, n1):
    for i0 in range(n0):
        for i1 in range(n1):
            o[i0, i1] = a[i0, i1] + 1


@njit(nogil=True)
def with_four(a, o, n0, n1, n2, n3):
    for i0 in range(n0):
        for i1 in range(n1):
            o[i0, i1] = a[i0, i1] + 1 + n2 + n3


def per_call_ns(fn, *args) -> float:
    """Best of 7 runs of 100,000 calls, in nanoseconds per call."""
    fn(*args)
    best = float("inf")
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(100_000):
            fn(*args)
        best = min(best, (time.perf_counter() - t0) / 100_000)
    return best * 1e9


def main() -> None:
    a = np.ones((4, 4), np.float32)
    o = np.empty_like(a)
    cases = [("one sh array (2 sizes)", with_array, (a, o, np.array([4, 4], np.int64))),
             ("2 int parameters", with_two, (a, o, 4, 4)),
             ("4 int parameters", with_four, (a, o, 4, 4, 0, 0)),
             ("2 np.int64 parameters", with_two, (a, o, np.int64(4), np.int64(4)))]
    for name, fn, args in cases:
        print(f"{name}: {per_call_ns(fn, *args):.0f} ns per call")


if __name__ == "__main__":
    main()
