"""GPU kernels for reading and adding along one axis (``gather``, ``scatter_add_axis``)
and for joining (``concat``, and the strided copy the writing ops start from); ``index``,
``setitem`` and ``scatter_add`` are in :mod:`graphc.kernels.cuda.indexing`.

- ``gather``: one thread per output element: ``out[..., i, ...] = x[..., index[..., i,
  ...], ...]``. A negative or too large index is an error (as the op's reference): it
  writes 0 and records the element in the error word.
- ``scatter_add_axis``: ``out`` is a copy of ``x``, then one thread per point of the
  index's other axes loops over the indexed axis **in order**, adding ``value`` where
  ``index`` points (negative values wrap, as ``np.add.at``). Repeated indices only meet
  in one thread, so the sums are NumPy's bit for bit (float16 added in float32, rounded
  once per addition, as NumPy does), with no atomics.
- ``concat``: one launch per input, one thread per element, writing its slab of ``out``.

Kernels are printed per rank and axis (as :mod:`graphc.kernels.cuda.indexing` does) and
compiled at first launch; sizes are arguments. Inputs may be strided device arrays
(indexed with their own strides); outputs are C-contiguous.

>>> gather_kernel(3, 1).py_func.__name__  # printed and wrapped: nothing compiled yet
'gather_rows'
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from .indexing import (
    GRID_LOOP,
    MAX_BLOCKS,
    THREADS,
    compile_source,
    launch,
    store,
    subscript,
    unflatten,
)


def _coords(ndim: int, axis: int, at: str) -> str:
    """``o0, .., <at>, .., o<ndim-1>`` with ``at`` on ``axis``."""
    return subscript([at if d == axis else f"o{d}" for d in range(ndim)])


# ---- copies and concat -------------------------------------------------------------

@functools.cache
def slab_kernel(ndim: int, axis: int):
    """``(src, out, n, off, r0..)``: ``out[..., o + off, ...] = src[..., o, ...]`` along
    ``axis``, one thread per element of ``src`` (of shape ``r``)."""
    params = ["src", "out", "n", "off", *[f"r{d}" for d in range(ndim)]]
    body = unflatten("i", list(range(ndim)), " " * 8)
    body += [f"        out[{_coords(ndim, axis, f'o{axis} + off')}] = "
             f"src[{subscript([f'o{d}' for d in range(ndim)])}]",
             "        i += step"]
    source = f"def slab({', '.join(params)}):\n" + GRID_LOOP + "\n".join(body) + "\n"
    return compile_source(source, "slab")


def _slab(src, out, axis: int, offset: int, stream, threads: int, max_blocks: int) -> None:
    shape = tuple(src.shape)
    n = int(np.prod(shape, dtype=np.int64))
    if not shape:  # a 0-d copy: as one element
        src, out, shape = src.reshape(1), out.reshape(1), (1,)
    launch(slab_kernel(len(shape), axis), n, [src, out, n, offset, *shape], stream,
           threads, max_blocks)


def copy_into(x, out, stream=0, *, threads: int = THREADS,
              max_blocks: int = MAX_BLOCKS) -> None:
    """``out[...] = x`` for a device array ``x`` of any strides (a broadcast or
    transposed view) and a C-contiguous ``out`` of its shape, queued on ``stream``.

    >>> copy_into(x.T, out, stream)  # doctest: +SKIP
    """
    if tuple(x.shape) != tuple(out.shape):
        raise ValueError(f"copy: shapes {tuple(x.shape)} and {tuple(out.shape)} differ")
    _slab(x, out, 0, 0, stream, threads, max_blocks)


def concat_into(xs: Sequence, axis: int, out, stream=0, *, threads: int = THREADS,
                max_blocks: int = MAX_BLOCKS) -> None:
    """``out[...] = np.concatenate(xs, axis)``: one launch per input, queued on
    ``stream``.

    >>> concat_into([a, b], 1, out, stream)  # doctest: +SKIP
    """
    total = sum(tuple(x.shape)[axis] for x in xs)
    if total != tuple(out.shape)[axis]:
        raise ValueError(f"concat: the inputs give {total} along axis {axis}, out has "
                         f"{tuple(out.shape)[axis]}")
    offset = 0
    for x in xs:
        _slab(x, out, axis, offset, stream, threads, max_blocks)
        offset += tuple(x.shape)[axis]


# ---- gather and scatter_add_axis ---------------------------------------------------

@functools.cache
def gather_kernel(ndim: int, axis: int):
    """``(x, index, out, error, n, r0..)`` with ``out`` flat and ``r`` the index's shape."""
    params = ["x", "index", "out", "error", "n", *[f"r{d}" for d in range(ndim)]]
    here = subscript([f"o{d}" for d in range(ndim)])
    body = unflatten("i", list(range(ndim)), " " * 8)
    body += [f"        v = np.int64(index[{here}])",
             f"        if v < 0 or v >= x.shape[{axis}]:",
             "            out[i] = 0",
             "            cuda.atomic.max(error, 0, n - i)",
             "        else:",
             f"            out[i] = x[{_coords(ndim, axis, 'v')}]",
             "        i += step"]
    source = f"def gather_rows({', '.join(params)}):\n" + GRID_LOOP + "\n".join(body) + "\n"
    return compile_source(source, "gather_rows")


def gather_into(x, index, axis: int, out, error, stream=0, *, threads: int = THREADS,
                max_blocks: int = MAX_BLOCKS) -> None:
    """``out = np.take_along_axis(x, index, axis)`` (graphc's ``gather``: ``index`` may be
    smaller than ``x`` on the other axes), queued on ``stream``; an index outside ``[0,
    x.shape[axis])`` writes 0 and records its element in ``error``.

    >>> gather_into(x, idx, 1, out, error, stream)  # doctest: +SKIP
    """
    shape = tuple(index.shape)
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return
    launch(gather_kernel(len(shape), axis), n, [x, index, out.reshape(n), error, n, *shape],
           stream, threads, max_blocks)


@functools.cache
def scatter_axis_kernel(ndim: int, axis: int, half: bool = False):
    """``(out, index, value, error, n, m, r0..)``: ``n`` points of the index's other axes,
    each adding its ``m`` values along ``axis`` in order (in float32 where ``half``)."""
    params = ["out", "index", "value", "error", "n", "m", *[f"r{d}" for d in range(ndim)]]
    others = [d for d in range(ndim) if d != axis]
    here = subscript([f"o{d}" for d in range(ndim)])
    add = store(f"out[{_coords(ndim, axis, 'v')}]", f"value[{here}]", True, half)
    body = unflatten("i", others, " " * 8)
    body += ["        inside = True"]
    for d in others:  # an index larger than x on another axis points outside it
        body += [f"        if o{d} >= out.shape[{d}]:", "            inside = False"]
    body += ["        for j in range(m):",
             f"            o{axis} = j",
             f"            v = np.int64(index[{here}])",
             "            if v < 0:",
             f"                v += out.shape[{axis}]",
             f"            if inside and v >= 0 and v < out.shape[{axis}]:",
             f"                {add}",
             "            else:",
             "                cuda.atomic.max(error, 0, n * m - (i * m + j))",
             "        i += step"]
    source = f"def scatter_axis({', '.join(params)}):\n" + GRID_LOOP + "\n".join(body) + "\n"
    return compile_source(source, "scatter_axis")


def scatter_add_axis_into(x, index, value, axis: int, out, error, stream=0, *,
                          threads: int = THREADS, max_blocks: int = MAX_BLOCKS) -> None:
    """``out = x.copy()`` then, for every position ``p`` of ``index``, ``out[p with
    axis -> index[p]] += value[p]`` in C order (graphc's ``scatter_add_axis``, the
    adjoint of gather), queued on ``stream``.

    >>> scatter_add_axis_into(zeros, idx, g, 1, out, error, stream)  # doctest: +SKIP
    """
    copy_into(x, out, stream, threads=threads, max_blocks=max_blocks)
    shape = tuple(index.shape)
    m = shape[axis]
    n = int(np.prod([d for k, d in enumerate(shape) if k != axis], dtype=np.int64))
    if n == 0 or m == 0:
        return
    kernel = scatter_axis_kernel(len(shape), axis, np.dtype(out.dtype) == np.float16)
    launch(kernel, n,
           [out, index, value, error, n, m, *shape], stream, threads, max_blocks)
