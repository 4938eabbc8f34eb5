"""2-D convolution on the GPU as im2col + a matrix product, and its two gradients.

The CPU's method (:mod:`graphc.kernels.cpu.conv_im2col`) with layouts chosen so that each
op is **one** batched product over the groups, whatever the batch size:

- forward: ``cols`` (G, Cg*KH*KW, N*OH*OW) gathers every window (zeros where it reads
  the padding); ``w`` (G, O/G, Cg*KH*KW) @ ``cols`` gives the output channel-first,
  (O, N, OH, OW), which a copy turns into (N, O, OH, OW) (no copy when N == 1);
- input gradient: ``w``'s transpose (G, Cg*KH*KW, O/G) @ ``dy`` channel-first
  (G, O/G, N*OH*OW) gives the window columns, and col2im adds them back into ``dx``;
- weight gradient: ``dy`` channel-first (G, O/G, N*OH*OW) @ ``cols`` in row form
  (G, N*OH*OW, Cg*KH*KW), summing over the batch inside the product.

**Determinism.** No atomics: every kernel here gives each output element to one thread.
col2im *gathers*: the thread of ``dx[n, c, y, x]`` adds the columns that read that
pixel in increasing (i, j) kernel offset, so the bits depend on the inputs alone, not
on the launch shape or the run. The product's order is the ``matmul`` given (the tiled
kernel adds in increasing K; cuBLAS repeats its bits on one stream).

**Precision.** float64 computes in float64; float32 and float16 in float32 (float16 is
converted when gathered into the columns or copied, and rounded once when stored).

**Memory.** The workspaces (the columns, channel-first copies, a float32 result to
round into float16) come from the caller's ``allocate(shape, dtype)``, one set per
call; every kernel is queued on ``stream`` and nothing synchronises.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run in numba's simulator (launch them
small: ``threads=64, max_blocks=2``).

>>> import numpy as np
>>> from numba import cuda  # doctest: +SKIP
>>> from graphc.kernels.cuda.matmul import matmul_into  # doctest: +SKIP
>>> x = cuda.to_device(np.ones((1, 1, 3, 3), np.float32))  # doctest: +SKIP
>>> w = cuda.to_device(np.ones((1, 1, 3, 3), np.float32))  # doctest: +SKIP
>>> out = cuda.device_array((1, 1, 1, 1), np.float32)  # doctest: +SKIP
>>> conv2d_forward(x, w, out, (1, 1), (0, 0), (1, 1), 1, 0, matmul_into,
...                cuda.device_array)  # doctest: +SKIP
>>> float(out.copy_to_host()[0, 0, 0, 0])  # doctest: +SKIP
9.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import cuda  # imported only where the GPU backend runs; the simulator swaps it

THREADS = 256
MAX_BLOCKS = 4096  # more elements are taken by the kernels' grid-stride loops

# relayout modes: how dst[a, b, c, d] reads src
COPY, SWAP01, SWAP12 = 0, 1, 2

Matmul = Callable[[Any, Any, Any, Any], None]
Allocate = Callable[[tuple, Any], Any]
Pair = tuple[int, int]


# ---- kernels (plain functions: jitted at first use, or compiled to PTX by ptx_for) -------
# Explicit blockIdx/blockDim/threadIdx: cuda.grid is not available in the simulator here.

def _im2col(x, cols, rows, n, c, h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups):
    """``cols`` (flat) = the windows of ``x`` (N, C, H, W), zero in the padding. Column
    form (rows == 0): (C, KH, KW, N, OH, OW), i.e. (G, Cg*KH*KW, N*OH*OW); row form:
    (G, N, OH, OW, Cg, KH, KW), i.e. (G, N*OH*OW, Cg*KH*KW). One thread per element,
    in the destination's order (coalesced writes)."""
    total = c * kh * kw * n * oh * ow
    cg = c // groups
    i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    while i < total:
        t = i
        if rows == 0:
            ox = t % ow
            t //= ow
            oy = t % oh
            t //= oh
            b = t % n
            t //= n
            q = t % kw
            t //= kw
            p = t % kh
            ch = t // kh
        else:
            q = t % kw
            t //= kw
            p = t % kh
            t //= kh
            cl = t % cg
            t //= cg
            ox = t % ow
            t //= ow
            oy = t % oh
            t //= oh
            b = t % n
            ch = (t // n) * cg + cl
        y = oy * sh - ph + p * dh
        xx = ox * sw - pw + q * dw
        if 0 <= y < h and 0 <= xx < w:
            cols[i] = x[b, ch, y, xx]
        else:
            cols[i] = 0
        i += stride


def _col2im(dcols, dx, n, c, h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, zero):
    """``dx`` (N, C, H, W) = the sum of the columns ``dcols`` (C, KH, KW, N, OH, OW, flat)
    that read each pixel. One thread per pixel, adding in increasing kernel offset: a
    fixed order, no atomics. ``zero`` is the accumulator's typed zero."""
    total = n * c * h * w
    i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    while i < total:
        xx = i % w
        t = i // w
        y = t % h
        t //= h
        ch = t % c
        b = t // c
        acc = zero
        for p in range(kh):
            ty = y + ph - p * dh
            if ty >= 0 and ty % sh == 0 and ty // sh < oh:
                oy = ty // sh
                for q in range(kw):
                    tx = xx + pw - q * dw
                    if tx >= 0 and tx % sw == 0 and tx // sw < ow:
                        acc += dcols[(((ch * kh + p) * kw + q) * n + b) * oh * ow
                                     + oy * ow + tx // sw]
        dx[b, ch, y, xx] = acc
        i += stride


def _relayout(src, dst, mode, d0, d1, d2, d3):
    """``dst`` (C-contiguous, d0 x d1 x d2 x d3) = ``src`` (any strides) copied
    (mode 0), with axes 0 and 1 swapped (1) or axes 1 and 2 swapped (2), converting the
    dtype at the store."""
    total = d0 * d1 * d2 * d3
    i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    while i < total:
        e = i % d3
        t = i // d3
        f = t % d2
        t //= d2
        b = t % d1
        a = t // d1
        if mode == 0:
            dst[a, b, f, e] = src[a, b, f, e]
        elif mode == 1:
            dst[a, b, f, e] = src[b, a, f, e]
        else:
            dst[a, b, f, e] = src[a, f, b, e]
        i += stride


_FUNCTIONS = {"im2col": _im2col, "col2im": _col2im, "relayout": _relayout}
KERNELS = ("im2col", "col2im", "relayout", "relayout_store")  # what ptx_for compiles


@functools.cache
def _kernel(name: str):
    """The ``@cuda.jit`` dispatcher of one kernel (built at first use)."""
    return cuda.jit(_FUNCTIONS[name])


def _launch(name: str, total: int, stream, threads: int, max_blocks: int, *args) -> None:
    if total == 0:
        return
    blocks = max(1, min(max_blocks, -(-total // threads)))
    _kernel(name)[blocks, threads, stream](*args)


# ---- the three ops -----------------------------------------------------------------------

def compute_dtype(dtype: Any) -> np.dtype:
    """The dtype a convolution of ``dtype`` computes in: float64 stays, others float32.

    >>> compute_dtype(np.float16), compute_dtype(np.float64)
    (dtype('float32'), dtype('float64'))
    """
    return np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)


class _Call:
    """One op's launch settings and workspace source."""

    def __init__(self, stream, allocate: Allocate, threads: int, max_blocks: int,
                 dtype: Any) -> None:
        self.stream, self.allocate = stream, allocate
        self.threads, self.max_blocks = threads, max_blocks
        self.ct = compute_dtype(dtype)

    def launch(self, name: str, total: int, *args) -> None:
        _launch(name, total, self.stream, self.threads, self.max_blocks, *args)

    def relayout(self, src, shape: tuple, mode: int, dst=None):
        """``src`` copied into ``dst`` (a new compute-dtype workspace if None) of
        ``shape``, as ``mode`` says."""
        if dst is None:
            dst = self.allocate(tuple(shape), self.ct)
        self.launch("relayout", int(np.prod(shape)), src, dst, mode, *shape)
        return dst

    def dense(self, a):
        """``a`` (4-D) as a C-contiguous array of the compute dtype: itself where it is."""
        if a.dtype == self.ct and a.is_c_contiguous():
            return a
        return self.relayout(a, tuple(a.shape), COPY)

    def channels_first(self, a):
        """``a`` (N, C, H, W) as a C-contiguous (C, N, H, W) array of the compute dtype."""
        n, c, h, w = a.shape
        if n == 1 and a.dtype == self.ct and a.is_c_contiguous():
            return a.reshape(c, 1, h, w)  # the same bytes
        return self.relayout(a, (c, n, h, w), SWAP01)

    def result(self, out, shape: tuple):
        """Where a product lands before ``finish``: ``out`` itself (viewed as ``shape``)
        when no conversion follows, else a compute-dtype workspace."""
        if out.dtype == self.ct:
            return out.reshape(shape)
        return self.allocate(shape, self.ct)

    def finish(self, result, out) -> None:
        """Round a compute-dtype ``result`` into ``out`` (nothing if it is ``out``)."""
        if out.dtype != self.ct:
            self.relayout(result.reshape(tuple(out.shape)), tuple(out.shape), COPY, out)


def _geometry(stride: Pair, padding: Pair, dilation: Pair) -> tuple[int, ...]:
    return (*map(int, stride), *map(int, padding), *map(int, dilation))


def conv2d_forward(x, w, out, stride: Pair, padding: Pair, dilation: Pair, groups: int,
                   stream, matmul: Matmul, allocate: Allocate, *, threads: int = THREADS,
                   max_blocks: int = MAX_BLOCKS) -> None:
    """``out = conv2d(x, w)``: ``x`` (N, C, H, W) and ``w`` (O, C/groups, KH, KW) device
    arrays of any strides, ``out`` a C-contiguous (N, O, OH, OW) one of their dtype.
    ``matmul(a, b, out, stream)`` computes the batched product (cuBLAS or the tiled
    kernel), ``allocate(shape, dtype)`` returns workspaces; everything is queued on
    ``stream``.

    >>> conv2d_forward(x, w, out, (1, 1), (1, 1), (1, 1), 1, stream, matmul_into,
    ...                allocate)  # doctest: +SKIP
    """
    n, c, h, wd = tuple(x.shape)
    o, cg, kh, kw = tuple(w.shape)
    oh, ow = tuple(out.shape)[2:]
    if out.size == 0:
        return
    run = _Call(stream, allocate, threads, max_blocks, out.dtype)
    k, og, np_ = cg * kh * kw, o // groups, n * oh * ow
    cols = run.allocate((groups, k, np_), run.ct)
    run.launch("im2col", cols.size, x, cols.reshape(cols.size), 0, n, c, h, wd, kh, kw,
               oh, ow, *_geometry(stride, padding, dilation), groups)
    weights = run.dense(w).reshape(groups, og, k)
    if n == 1:  # channel-first is the output's own layout
        target = run.result(out, (groups, og, np_))
        matmul(weights, cols, target, stream)
        run.finish(target, out)
        return
    target = run.allocate((groups, og, np_), run.ct)
    matmul(weights, cols, target, stream)
    run.relayout(target.reshape(o, n, oh, ow), (n, o, oh, ow), SWAP01, out)


def conv2d_backward_data(w, dy, out, stride: Pair, padding: Pair, dilation: Pair,
                         groups: int, stream, matmul: Matmul, allocate: Allocate, *,
                         threads: int = THREADS, max_blocks: int = MAX_BLOCKS) -> None:
    """``out`` (N, C, H, W, C-contiguous) = the gradient of conv2d with respect to its
    input, from ``w`` (O, C/groups, KH, KW) and ``dy`` (N, O, OH, OW); arguments as
    :func:`conv2d_forward`'s.

    >>> conv2d_backward_data(w, dy, dx, (1, 1), (1, 1), (1, 1), 1, stream, matmul_into,
    ...                      allocate)  # doctest: +SKIP
    """
    n, c, h, wd = tuple(out.shape)
    o, cg, kh, kw = tuple(w.shape)
    oh, ow = tuple(dy.shape)[2:]
    if out.size == 0:
        return
    run = _Call(stream, allocate, threads, max_blocks, out.dtype)
    k, og, np_ = cg * kh * kw, o // groups, n * oh * ow
    # w's per-group transpose (G, K, O/G), made dense: the product's operands are
    # reshaped, which needs C-contiguous arrays (the weights are small).
    w_t = run.relayout(run.dense(w).reshape(groups, og, k, 1), (groups, k, og, 1), SWAP12)
    grads = run.channels_first(dy).reshape(groups, og, np_)
    dcols = run.allocate((groups, k, np_), run.ct)
    matmul(w_t.reshape(groups, k, og), grads, dcols, stream)
    zero = run.ct.type(0)  # typed: a Python 0 would make float32 sums float64
    run.launch("col2im", out.size, dcols.reshape(dcols.size), out, n, c, h, wd, kh, kw,
               oh, ow, *_geometry(stride, padding, dilation), zero)


def conv2d_backward_filter(x, dy, out, stride: Pair, padding: Pair, dilation: Pair,
                           groups: int, stream, matmul: Matmul, allocate: Allocate, *,
                           threads: int = THREADS, max_blocks: int = MAX_BLOCKS) -> None:
    """``out`` (O, C/groups, KH, KW, C-contiguous) = the gradient of conv2d with respect
    to its weight, from ``x`` (N, C, H, W) and ``dy`` (N, O, OH, OW), summed over the
    batch inside one product; arguments as :func:`conv2d_forward`'s.

    >>> conv2d_backward_filter(x, dy, dw, (1, 1), (1, 1), (1, 1), 1, stream, matmul_into,
    ...                        allocate)  # doctest: +SKIP
    """
    n, c, h, wd = tuple(x.shape)
    o, cg, kh, kw = tuple(out.shape)
    oh, ow = tuple(dy.shape)[2:]
    if out.size == 0:
        return
    run = _Call(stream, allocate, threads, max_blocks, out.dtype)
    k, og, np_ = cg * kh * kw, o // groups, n * oh * ow
    rows = run.allocate((groups, np_, k), run.ct)
    run.launch("im2col", rows.size, x, rows.reshape(rows.size), 1, n, c, h, wd, kh, kw,
               oh, ow, *_geometry(stride, padding, dilation), groups)
    grads = run.channels_first(dy).reshape(groups, og, np_)
    target = run.result(out, (groups, og, k))
    matmul(grads, rows, target, stream)  # N*OH*OW == 0 gives zeros (K = 0)
    run.finish(target, out)


# ---- PTX without a GPU ---------------------------------------------------------------

def argument_types(name: str, dtype: Any) -> tuple:
    """The numba argument types of kernel ``name`` (one of ``KERNELS``) for a convolution
    of ``dtype``: inputs of any layout, C-contiguous outputs, int64 sizes.
    ``"relayout"`` is the copy into the compute dtype, ``"relayout_store"`` the one
    rounding a result back into ``dtype``.

    >>> len(argument_types("col2im", "float32"))  # doctest: +SKIP
    17
    """
    from numba import types as nbtypes
    from numba.np.numpy_support import from_dtype

    storage = from_dtype(np.dtype(dtype))
    compute = from_dtype(compute_dtype(dtype))
    i64 = nbtypes.int64
    if name == "im2col":
        return (nbtypes.Array(storage, 4, "A"), nbtypes.Array(compute, 1, "C"),
                *([i64] * 16))
    if name == "col2im":
        return (nbtypes.Array(compute, 1, "C"), nbtypes.Array(storage, 4, "C"),
                *([i64] * 14), compute)
    if name == "relayout":
        return (nbtypes.Array(storage, 4, "A"), nbtypes.Array(compute, 4, "C"),
                *([i64] * 5))
    if name == "relayout_store":
        return (nbtypes.Array(compute, 4, "A"), nbtypes.Array(storage, 4, "C"),
                *([i64] * 5))
    raise ValueError(f"no conv kernel {name!r}: {', '.join(KERNELS)}")


def ptx_for(name: str, dtype: Any = "float32", cc: tuple[int, int] = (9, 0)) -> str:
    """Kernel ``name`` for ``dtype`` compiled to PTX for compute capability ``cc`` with
    NVVM (no GPU or driver); :class:`graphc.codegen.cuda_ptx.PTXVersionError` if its ISA
    is newer than the driver's (``MAX_PTX_VERSION``).

    >>> ptx = ptx_for("col2im", "float16")  # doctest: +SKIP
    """
    from graphc.codegen.cuda_ptx import function_ptx

    function = _FUNCTIONS["relayout" if name == "relayout_store" else name]
    return function_ptx(function, argument_types(name, dtype), cc)


__all__ = ["conv2d_backward_data", "conv2d_backward_filter", "conv2d_forward", "ptx_for"]
