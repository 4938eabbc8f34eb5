"""2-D max and average pooling on the GPU (numba.cuda), with their gradients: the kernels
of the ``max_pool2d``, ``max_pool2d_backward``, ``max_pool2d_select``, ``avg_pool2d`` and
``avg_pool2d_backward`` ops (graphc/ops/pool.py) on NCHW device arrays.

One thread per *output* element, in a grid-stride loop, so any shape runs with a capped
grid. The gradients **gather** rather than scatter: each input pixel visits the windows
that contain it, in a fixed order, and adds their contributions in one register. No
atomics, so the bits depend on the inputs alone (not on the launch shape or the run),
and the order is the CPU kernels' (graphc/kernels/cpu/pool_direct.py,
pool_strided.py), so results match them bit for bit:

- a max is each window's *first* maximum in row-major order, a NaN winning (the CPU's
  ``_argmax``); padded positions are never read; ``max_pool2d_select`` reads ``g`` there;
- the max gradient of a pixel adds ``dy`` of the windows whose first maximum it is,
  windows in row-major order (the CPU's loop over windows);
- an average adds the window's ``kh*kw`` values row by row, padding as +0.0, starting
  from -0.0 (the CPU copies the first value, then adds: -0.0 + v is v, signed zeros
  included), then divides by the count (area, or real elements with exclude_padding);
- the average gradient adds each window's ``dy / count`` over the kernel offsets
  ``(a, b)`` in row-major order (the CPU's loop over strided views).

float16 is read into float32, computed in float32 and rounded once at the store (as the
CPU's ``compute_float``); float32 stays float32; float64 is float64. Inputs may be
strided views (every array is indexed with its full subscripts); outputs are written
whole. Launches go on the caller's stream and return once queued.

numba.cuda is imported at module level: the simulator swaps this module's ``cuda``
global (``NUMBA_ENABLE_CUDASIM=1``), and only the GPU backend imports this module.
Kernels are built at first use, per compute dtype.

>>> import numpy as np  # doctest: +SKIP
>>> x = cuda.to_device(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))  # doctest: +SKIP
>>> out = cuda.device_array((1, 1, 2, 2), np.float32)  # doctest: +SKIP
>>> max_pool2d_into(x, out, (2, 2), (2, 2), (0, 0))  # doctest: +SKIP
>>> out.copy_to_host().ravel().tolist()  # doctest: +SKIP
[5.0, 7.0, 13.0, 15.0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import cuda  # the simulator swaps this global: keep it at module level
from numba import types as nbtypes

THREADS = 256
MAX_BLOCKS = 1024  # more elements are taken by the grid-stride loop
DTYPES = ("float16", "float32", "float64")
# (max pooling is max_select of x by itself: the value at the window's first maximum)
KERNELS = ("max_select", "max_backward", "avg_forward", "avg_backward")

Pair = tuple[int, int]


def compute_dtype(dtype: object) -> str:
    """The dtype a pooling kernel computes in for arrays of ``dtype``.

    >>> compute_dtype(np.float16), compute_dtype("float64")
    ('float32', 'float64')
    """
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"the CUDA pooling kernels take {', '.join(DTYPES)}, not {name}")
    return "float64" if name == "float64" else "float32"


@functools.cache
def _device_functions(compute: str) -> tuple[Callable, ...]:
    """``(window, covering, first_max)`` device functions for one compute dtype."""
    cast = np.float32 if compute == "float32" else np.float64

    @cuda.jit(device=True, inline="always")
    def window(o, stride, pad, k, size):
        """The real rows ``[lo, hi)`` of window ``o`` along one axis."""
        start = o * stride - pad
        return max(start, 0), min(start + k, size)

    @cuda.jit(device=True, inline="always")
    def covering(p, stride, pad, k, count):
        """The windows ``[lo, hi)`` along one axis that contain input position ``p``."""
        first = p + pad - k + 1  # the lowest window start that still reaches p
        lo = 0 if first <= 0 else (first + stride - 1) // stride
        return lo, min((p + pad) // stride + 1, count)

    @cuda.jit(device=True, inline="always")
    def first_max(x, n, c, h0, h1, w0, w1):
        """Row and column of the first maximum (or first NaN) of a window: the CPU's
        ``_argmax`` (graphc/kernels/cpu/pool_direct.py), so ties resolve as there."""
        best = cast(x[n, c, h0, w0])
        bi = h0
        bj = w0
        if best == best:
            for a in range(h0, h1):
                for b in range(w0, w1):
                    v = cast(x[n, c, a, b])
                    if v > best or v != v:
                        best = v
                        bi = a
                        bj = b
                        if v != v:
                            return bi, bj
        return bi, bj

    return window, covering, first_max


def _split(t, d1, d2, d3):
    """Flat index ``t`` of an NCHW shape as ``(n, c, h, w)`` (``d1..d3``: C, H, W)."""
    w = t % d3
    r = t // d3
    h = r % d2
    r = r // d2
    return r // d1, r % d1, h, w


@functools.cache
def _kernels(compute: str) -> dict[str, Any]:
    """The five ``@cuda.jit`` dispatchers for ``compute`` (``float32`` or ``float64``),
    by name (:data:`KERNELS`). Built at first use: importing the module compiles nothing.
    """
    cast = np.float32 if compute == "float32" else np.float64
    # Typed constants: a Python 0.0 would make numba widen float32 sums to float64.
    zero, neg_zero = cast(0.0), cast(-0.0)
    i64 = np.int64  # thread indices are 32-bit: widen before multiplying
    window, covering, first_max = _device_functions(compute)
    split = cuda.jit(device=True, inline="always")(_split)

    @cuda.jit
    def max_select(x, g, out, kh, kw, sh, sw, ph, pw):
        chans, height, width = x.shape[1], x.shape[2], x.shape[3]
        oh, ow = out.shape[2], out.shape[3]
        total = out.shape[0] * chans * oh * ow
        t = i64(cuda.blockIdx.x) * i64(cuda.blockDim.x) + i64(cuda.threadIdx.x)
        step = i64(cuda.gridDim.x) * i64(cuda.blockDim.x)
        while t < total:
            n, c, i, j = split(t, chans, oh, ow)
            h0, h1 = window(i, sh, ph, kh, height)
            w0, w1 = window(j, sw, pw, kw, width)
            bi, bj = first_max(x, n, c, h0, h1, w0, w1)
            out[n, c, i, j] = g[n, c, bi, bj]
            t += step

    @cuda.jit
    def max_backward(x, dy, dx, kh, kw, sh, sw, ph, pw):
        chans, height, width = x.shape[1], x.shape[2], x.shape[3]
        oh, ow = dy.shape[2], dy.shape[3]
        total = x.shape[0] * chans * height * width
        t = i64(cuda.blockIdx.x) * i64(cuda.blockDim.x) + i64(cuda.threadIdx.x)
        step = i64(cuda.gridDim.x) * i64(cuda.blockDim.x)
        while t < total:
            n, c, h, w = split(t, chans, height, width)
            i0, i1 = covering(h, sh, ph, kh, oh)
            j0, j1 = covering(w, sw, pw, kw, ow)
            acc = zero
            for i in range(i0, i1):  # windows in row-major order, as the CPU's loop
                h0, h1 = window(i, sh, ph, kh, height)
                for j in range(j0, j1):
                    w0, w1 = window(j, sw, pw, kw, width)
                    bi, bj = first_max(x, n, c, h0, h1, w0, w1)
                    if bi == h and bj == w:
                        acc += cast(dy[n, c, i, j])
            dx[n, c, h, w] = acc
            t += step

    @cuda.jit
    def avg_forward(x, out, kh, kw, sh, sw, ph, pw, exclude_padding):
        chans, height, width = x.shape[1], x.shape[2], x.shape[3]
        oh, ow = out.shape[2], out.shape[3]
        total = out.shape[0] * chans * oh * ow
        t = i64(cuda.blockIdx.x) * i64(cuda.blockDim.x) + i64(cuda.threadIdx.x)
        step = i64(cuda.gridDim.x) * i64(cuda.blockDim.x)
        while t < total:
            n, c, i, j = split(t, chans, oh, ow)
            top = i * sh - ph
            left = j * sw - pw
            acc = neg_zero
            for a in range(kh):
                for b in range(kw):
                    v = zero  # a padded position: the CPU adds its zero too
                    if 0 <= top + a < height and 0 <= left + b < width:
                        v = cast(x[n, c, top + a, left + b])
                    acc += v
            if exclude_padding:
                h0, h1 = window(i, sh, ph, kh, height)
                w0, w1 = window(j, sw, pw, kw, width)
                count = (h1 - h0) * (w1 - w0)
            else:
                count = kh * kw
            out[n, c, i, j] = acc / cast(count)
            t += step

    @cuda.jit
    def avg_backward(dy, dx, kh, kw, sh, sw, ph, pw, exclude_padding):
        chans, height, width = dx.shape[1], dx.shape[2], dx.shape[3]
        oh, ow = dy.shape[2], dy.shape[3]
        total = dx.shape[0] * chans * height * width
        t = i64(cuda.blockIdx.x) * i64(cuda.blockDim.x) + i64(cuda.threadIdx.x)
        step = i64(cuda.gridDim.x) * i64(cuda.blockDim.x)
        while t < total:
            n, c, h, w = split(t, chans, height, width)
            acc = zero
            # Kernel offsets in row-major order: the CPU adds one strided view per offset.
            for a in range(kh):
                di = h + ph - a
                if di >= 0 and di % sh == 0 and di // sh < oh:
                    i = di // sh
                    for b in range(kw):
                        dj = w + pw - b
                        if dj >= 0 and dj % sw == 0 and dj // sw < ow:
                            j = dj // sw
                            if exclude_padding:
                                h0, h1 = window(i, sh, ph, kh, height)
                                w0, w1 = window(j, sw, pw, kw, width)
                                count = (h1 - h0) * (w1 - w0)
                            else:
                                count = kh * kw
                            acc += cast(dy[n, c, i, j]) / cast(count)
            dx[n, c, h, w] = acc
            t += step

    return {"max_backward": max_backward, "max_select": max_select, "avg_forward": avg_forward,
            "avg_backward": avg_backward}


def _check(arrays: dict[str, Any]) -> str:
    """The compute dtype of ``arrays`` (4-D, one float dtype), or an error naming them."""
    dtypes = {np.dtype(a.dtype).name for a in arrays.values()}
    if len(dtypes) != 1:
        raise TypeError(f"pooling: arrays of one dtype, not {sorted(dtypes)}")
    for name, a in arrays.items():
        if len(a.shape) != 4:
            raise ValueError(f"pooling: {name} must be 4-D (NCHW), not {tuple(a.shape)}")
    return compute_dtype(dtypes.pop())


def _launch(name: str, arrays: dict[str, Any], total: int, stream: Any, threads: int,
            max_blocks: int, *scalars: int) -> None:
    """Queue kernel ``name`` on ``stream`` over ``total`` elements (nothing if none)."""
    kernel = _kernels(_check(arrays))[name]
    if total == 0:
        return
    blocks = max(1, min(max_blocks, -(-total // threads)))
    kernel[blocks, threads, stream](*arrays.values(), *(int(s) for s in scalars))


def _size(a: Any) -> int:
    return int(np.prod(tuple(a.shape), dtype=np.int64))


def max_pool2d_into(x, out, kernel: Pair, stride: Pair, padding: Pair, stream: Any = 0, *,
                    threads: int = THREADS, max_blocks: int = MAX_BLOCKS) -> None:
    """``out[n, c, i, j]`` = the maximum of window ``(i, j)`` of ``x[n, c]`` (NaN wins).

    ``x`` (N, C, H, W) and ``out`` (N, C, OH, OW) are device arrays of one float dtype;
    ``threads``/``max_blocks`` shape the launch (the simulator's tests keep it small).

    >>> max_pool2d_into(x, out, (2, 2), (2, 2), (0, 0), cuda.stream())  # doctest: +SKIP
    """
    _launch("max_select", {"x": x, "g": x, "out": out}, _size(out), stream, threads,
            max_blocks, *kernel, *stride, *padding)


def max_pool2d_select_into(x, g, out, kernel: Pair, stride: Pair, padding: Pair,
                           stream: Any = 0, *, threads: int = THREADS,
                           max_blocks: int = MAX_BLOCKS) -> None:
    """``out[n, c, i, j]`` = ``g`` at the first maximum of window ``(i, j)`` of ``x``:
    the positions :func:`max_pool2d_backward_into` sends gradients to.

    >>> max_pool2d_select_into(x, g, out, (2, 2), (2, 2), (0, 0))  # doctest: +SKIP
    """
    _launch("max_select", {"x": x, "g": g, "out": out}, _size(out), stream, threads,
            max_blocks, *kernel, *stride, *padding)


def max_pool2d_backward_into(x, dy, dx, kernel: Pair, stride: Pair, padding: Pair,
                             stream: Any = 0, *, threads: int = THREADS,
                             max_blocks: int = MAX_BLOCKS) -> None:
    """``dx`` (x's shape) = each window's ``dy`` at its first maximum, gathered: every
    pixel of ``dx`` is written (zero where no window picked it).

    >>> max_pool2d_backward_into(x, dy, dx, (2, 2), (2, 2), (0, 0))  # doctest: +SKIP
    """
    _launch("max_backward", {"x": x, "dy": dy, "dx": dx}, _size(dx), stream, threads,
            max_blocks, *kernel, *stride, *padding)


def avg_pool2d_into(x, out, kernel: Pair, stride: Pair, padding: Pair,
                    exclude_padding: bool, stream: Any = 0, *, threads: int = THREADS,
                    max_blocks: int = MAX_BLOCKS) -> None:
    """``out[n, c, i, j]`` = the mean of window ``(i, j)`` of ``x[n, c]``: divided by the
    window's area, or by its real elements where ``exclude_padding``.

    >>> avg_pool2d_into(x, out, (2, 2), (1, 1), (1, 1), True)  # doctest: +SKIP
    """
    _launch("avg_forward", {"x": x, "out": out}, _size(out), stream, threads, max_blocks,
            *kernel, *stride, *padding, bool(exclude_padding))


def avg_pool2d_backward_into(dy, dx, kernel: Pair, stride: Pair, padding: Pair,
                             exclude_padding: bool, stream: Any = 0, *,
                             threads: int = THREADS, max_blocks: int = MAX_BLOCKS) -> None:
    """``dx`` = each window's ``dy / count`` added to every element of the window,
    gathered per pixel of ``dx`` (N, C, H, W).

    >>> avg_pool2d_backward_into(dy, dx, (2, 2), (2, 2), (0, 0), False)  # doctest: +SKIP
    """
    _launch("avg_backward", {"dy": dy, "dx": dx}, _size(dx), stream, threads, max_blocks,
            *kernel, *stride, *padding, bool(exclude_padding))


def argument_types(name: str, dtype: object) -> tuple:
    """The numba argument types of kernel ``name`` for ``dtype``: inputs of any layout,
    a C-contiguous output, int64 geometry (and exclude_padding)."""
    from numba.np.numpy_support import from_dtype

    compute_dtype(dtype)
    if name not in KERNELS:
        raise ValueError(f"no pooling kernel {name!r} (there are {', '.join(KERNELS)})")
    element = from_dtype(np.dtype(dtype))
    any_layout = nbtypes.Array(element, 4, "A", readonly=False)
    c_layout = nbtypes.Array(element, 4, "C", readonly=False)
    inputs = {"max_select": 2, "max_backward": 2, "avg_forward": 1,
              "avg_backward": 1}[name]
    scalars = 7 if name.startswith("avg") else 6
    return (*[any_layout] * inputs, c_layout, *[nbtypes.int64] * scalars)


def ptx_for(name: str, dtype: object, cc: tuple[int, int] = (9, 0)) -> str:
    """Kernel ``name`` (one of :data:`KERNELS`) for ``dtype`` compiled to PTX for compute
    capability ``cc`` with NVVM (no GPU or driver); :class:`PTXVersionError` if the ISA
    is newer than the driver loads (``MAX_PTX_VERSION``).

    >>> ptx = ptx_for("max_backward", "float32")  # doctest: +SKIP
    """
    from graphc.codegen.cuda_ptx import function_ptx

    types = argument_types(name, dtype)
    kernel = _kernels(compute_dtype(dtype))[name]
    return function_ptx(kernel.py_func, types, cc)
