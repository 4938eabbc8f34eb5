"""Convolution and pooling kernels measured against each other (docs/performance.md).

For each shape of the LeNet step (batch 64 and 128: 1x28x28 → conv 6@5x5 pad 2 → max
pool 2 → conv 16@5x5 → max pool 2) and for 3x32x32 → 32@3x3 pad 1, it times the forward
pass, the input gradient and the weight gradient of both CPU implementations, direct
numba loops (:mod:`graphc.kernels.cpu.conv_direct`) and im2col + BLAS
(:mod:`graphc.kernels.cpu.conv_im2col`), and the numba pooling loops
(:mod:`graphc.kernels.cpu.pool_direct`) against strided NumPy
(:mod:`graphc.kernels.cpu.pool_strided`), and the input gradient's col2im step as NumPy
strided adds against numba loops (:mod:`graphc.kernels.cpu.col2im`). Run it with
``python -m graphc.bench.conv`` (medians in ms, float32).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir import Attrs
from .harness import environment, median_seconds

# (name, batch, in_channels, size, out_channels, kernel, padding)
CONV_CASES = [
    (f"{name} b{batch}", batch, c, size, o, k, p)
    for batch in (64, 128)
    for name, c, size, o, k, p in (("lenet conv1 1x28x28→6@5x5 p2", 1, 28, 6, 5, 2),
                                   ("lenet conv2 6x14x14→16@5x5", 6, 14, 16, 5, 0),
                                   ("3x32x32→32@3x3 p1", 3, 32, 32, 3, 1))
]
POOL_CASES = [(f"max/avg pool 2 {c}x{s}x{s} b{b}", b, c, s)
              for b in (64, 128) for c, s in ((6, 28), (16, 10))]


def conv_times(batch: int, c: int, size: int, o: int, k: int, p: int,
               repeat: int = 20) -> dict[str, dict[str, float]]:
    """Median ms of each conv op for each implementation: ``{impl: {op: ms}}``."""
    from ..kernels.cpu import conv_direct, conv_im2col

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c, size, size), dtype=np.float32)
    w = rng.standard_normal((o, c, k, k), dtype=np.float32)
    out_size = size + 2 * p - k + 1
    dy = rng.standard_normal((batch, o, out_size, out_size), dtype=np.float32)
    y, dx, dw = np.empty_like(dy), np.empty_like(x), np.empty_like(w)
    geometry = (1, 1, p, p, 1, 1, 1)
    times: dict[str, dict[str, float]] = {}
    for impl in (conv_direct, conv_im2col):
        calls: dict[str, Callable[[], object]] = {
            "forward": lambda m=impl: m.conv2d_forward(x, w, y, *geometry),
            "backward_data": lambda m=impl: m.conv2d_backward_data(w, dy, dx, *geometry),
            "backward_filter": lambda m=impl: m.conv2d_backward_filter(x, dy, dw, *geometry),
        }
        name = impl.__name__.rsplit(".", 1)[-1]
        times[name] = {op: 1e3 * median_seconds(fn, repeat) for op, fn in calls.items()}
    return times


def col2im_times(batch: int, c: int, size: int, o: int, k: int, p: int,
                 repeat: int = 20) -> dict[str, float]:
    """Median ms of the conv input gradient's col2im step: ``{"numpy": ms, "numba": ms}``."""
    from ..kernels.cpu import col2im, conv_im2col

    out_size = size + 2 * p - k + 1
    cols = np.random.default_rng(0).standard_normal(
        (batch, c, k, k, out_size, out_size), dtype=np.float32)
    out = np.empty((batch, c, size + 2 * p, size + 2 * p), np.float32)
    return {name: 1e3 * median_seconds(lambda f=fn: f(cols, out, 1, 1, 1, 1), repeat)
            for name, fn in (("numpy", conv_im2col.col2im), ("numba", col2im.col2im))}


def pool_times(batch: int, c: int, size: int, repeat: int = 20) -> dict[str, dict[str, float]]:
    """Median ms of the numba pooling kernels (``pool_direct``), the strided NumPy ones
    (``pool_strided``) and the max ops' NumPy references: ``{impl: {op: ms}}``."""
    from ..kernels.cpu import pool_direct, pool_strided
    from ..ops import get_op

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c, size, size), dtype=np.float32)
    y = np.empty((batch, c, size // 2, size // 2), np.float32)
    dy, dx = rng.standard_normal(y.shape, dtype=np.float32), np.empty_like(x)
    geometry = (2, 2, 2, 2, 0, 0)
    attrs = Attrs({"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0)})
    times = {}
    for impl in (pool_direct, pool_strided):
        name = impl.__name__.rsplit(".", 1)[-1]
        calls = {
            "max forward": lambda m=impl: m.max_pool2d_forward(x, y, *geometry),
            "max backward": lambda m=impl: m.max_pool2d_backward(x, dy, dx, *geometry),
            "avg forward": lambda m=impl: m.avg_pool2d_forward(x, y, *geometry, True),
            "avg backward": lambda m=impl: m.avg_pool2d_backward(dy, dx, *geometry, True),
        }
        times[name] = {op: 1e3 * median_seconds(fn, repeat) for op, fn in calls.items()}
    times["reference"] = {
        "max forward": 1e3 * median_seconds(
            lambda: get_op("max_pool2d").reference([x], attrs), repeat),
        "max backward": 1e3 * median_seconds(
            lambda: get_op("max_pool2d_backward").reference([x, dy], attrs), repeat)}
    return times


def _header(*columns: str, text: int = 2) -> None:
    """A Markdown table's header: columns from the ``text``-th on are numbers (right)."""
    print("| " + " | ".join(columns) + " |")
    print("| " + " | ".join("---" if i < text else "---:" for i in range(len(columns))) + " |")


def main() -> None:
    """Print the conv and pooling tables (Markdown)."""
    print(environment())
    _header("case", "op", "direct numba ms", "im2col + BLAS ms", "faster")
    for name, *shape in CONV_CASES:
        times = conv_times(*shape)
        for op in ("forward", "backward_data", "backward_filter"):
            d, i = times["conv_direct"][op], times["conv_im2col"][op]
            print(f"| {name} | {op} | {d:.2f} | {i:.2f} | {'direct' if d < i else 'im2col'} |")
    print()
    _header("case", "col2im: NumPy strided adds ms", "numba loops ms", text=1)
    for name, *shape in CONV_CASES:
        times = col2im_times(*shape)
        print(f"| {name} | {times['numpy']:.2f} | {times['numba']:.2f} |")
    print()
    _header("case", "op", "numba loops ms", "strided NumPy ms", "op reference ms")
    for name, *shape in POOL_CASES:
        times = pool_times(*shape)
        for op, ms in times["pool_direct"].items():
            reference = times["reference"].get(op)
            print(f"| {name} | {op} | {ms:.2f} | {times['pool_strided'][op]:.2f} | "
                  f"{'' if reference is None else f'{reference:.2f}'} |")


if __name__ == "__main__":
    main()
