"""Fused-kernel benchmarks on 16M float32 elements (issue: the compiler).

Each case is measured in the same run for NumPy eager at its best (preallocated ``out=``
buffers, ``v*v*v`` rather than ``v**3``), graphc compiled (the cached Program's run,
which is what a training step pays, and the whole lazy path: build the graph on new
buffers, look the Program up by structural key, run it) and, for bandwidth, a numba
STREAM triad ``a = b + s * c``. Medians of repeated runs; ratios are what to compare.
"""

from __future__ import annotations

import math

import numpy as np

import graphc
import graphc.functional as F
from graphc.ir import buffer_node
from graphc.runtime.compiler import _runtime_value, lookup_or_compile
from graphc.tensor import Tensor

from .harness import environment, median_seconds, report_process_latency

N = 16 * 1024 * 1024
ROWS, COLS = 4096, 1024


def _triad():
    from numba import njit, prange

    @njit(parallel=True, nogil=True, cache=True)
    def triad(a, b, c, s):
        for i in prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    return triad


def _wrap(array: np.ndarray) -> Tensor:
    """A Tensor on an existing array without copying it (benchmark use only)."""
    array.flags.writeable = False
    return Tensor._wrap(buffer_node(array, "xpux"))


def _graphc_times(build, arrays) -> tuple[float, float, int]:
    """(program-run seconds, lazy-path seconds, kernel count) for ``build(*tensors)``."""
    out = build(*[_wrap(a) for a in arrays])
    compiled, args = lookup_or_compile([out._node])
    values = [_runtime_value(a) for a in args]
    run = median_seconds(lambda: compiled.program.run(values))

    def lazy():
        y = build(*[_wrap(a) for a in arrays])
        graphc.realize(y)

    return run, median_seconds(lazy), compiled.program.stats["kernels"]


def numpy_gelu_tanh(x, w, b, out, tmp):
    np.multiply(x, w, out=out)
    np.add(out, b, out=out)  # v = x*w + b
    np.multiply(out, out, out=tmp)
    np.multiply(tmp, out, out=tmp)  # v*v*v
    np.multiply(tmp, 0.044715, out=tmp)
    np.add(tmp, out, out=tmp)
    np.multiply(tmp, math.sqrt(2 / math.pi), out=tmp)
    np.tanh(tmp, out=tmp)
    np.add(tmp, 1.0, out=tmp)
    np.multiply(tmp, 0.5, out=tmp)
    np.multiply(out, tmp, out=out)
    return out


def numpy_softmax(x, out, row):
    np.max(x, axis=1, keepdims=True, out=row)
    np.subtract(x, row, out=out)
    np.exp(out, out=out)
    np.sum(out, axis=1, keepdims=True, out=row)
    np.divide(out, row, out=out)
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)
    w, b = np.float32(0.9), np.float32(0.1)
    wv = np.full(N, w, np.float32)
    bv = np.full(N, b, np.float32)
    out, tmp = np.empty_like(x), np.empty_like(x)
    print("graphc kernel benchmarks (medians; 16M float32 elements)")
    for k, v in environment().items():
        print(f"  {k}: {v}")

    triad = _triad()
    a = np.empty_like(x)
    t_triad = median_seconds(lambda: triad(a, x, y, np.float32(3.0)))
    triad_gbs = 3 * x.nbytes / t_triad / 1e9
    print(f"\nSTREAM triad (numba): {t_triad * 1e3:.2f} ms = {triad_gbs:.1f} GB/s")

    rows = []
    gelu_bytes = 3 * x.nbytes + x.nbytes  # read x, w, b; write out
    t_np = median_seconds(lambda: numpy_gelu_tanh(x, wv, bv, out, tmp))
    for label, approx in (("gelu(x*w+b) tanh", "tanh"), ("gelu(x*w+b) erf", "none")):
        run, lazy, nk = _graphc_times(lambda X, W, B, a=approx: F.gelu(X * W + B, a),
                                      [x, wv, bv])
        rows.append((label, t_np, run, lazy, nk, gelu_bytes / run / 1e9 / triad_gbs))

    t_np = median_seconds(lambda: np.sum(np.multiply(x, y, out=out)))
    run, lazy, nk = _graphc_times(lambda X, Y: (X * Y).sum(), [x, y])
    rows.append(("sum(x*y)", t_np, run, lazy, nk, 2 * x.nbytes / run / 1e9 / triad_gbs))

    m = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    sm_out, sm_row = np.empty_like(m), np.empty((ROWS, 1), np.float32)
    t_np = median_seconds(lambda: numpy_softmax(m, sm_out, sm_row))
    run, lazy, nk = _graphc_times(lambda X: F.softmax(X, axis=1), [m])
    rows.append(("softmax 4096x1024", t_np, run, lazy, nk, 2 * m.nbytes / run / 1e9 / triad_gbs))

    print(f"\n{'case':<20}{'numpy ms':>10}{'graphc ms':>11}{'lazy ms':>9}{'kernels':>9}"
          f"{'speedup':>9}{'% triad':>9}")
    for label, t_np, run, lazy, nk, frac in rows:
        print(f"{label:<20}{t_np * 1e3:>10.2f}{run * 1e3:>11.2f}{lazy * 1e3:>9.2f}{nk:>9}"
              f"{t_np / run:>8.1f}x{frac * 100:>8.0f}%")
    print("\n(graphc ms: the cached Program's run; lazy ms: build the graph on new buffers, "
          "look it up by key and run it.)")


def compile_latency() -> None:
    """Whole-process wall time of a cold and a warm realization (see docs/performance.md)."""
    script = ("import numpy as np, graphc, graphc.functional as F\n"
              "x = graphc.tensor(np.ones((256, 256), np.float32))\n"
              "y = F.gelu(x * 0.9 + 0.1); graphc.realize(y)\n")
    report_process_latency("compile latency", script)


if __name__ == "__main__":
    main()
    compile_latency()
