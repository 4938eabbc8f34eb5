"""GPU kernels for reading and writing with an index spec: ``index`` (``x[idx]``),
``setitem`` (``x[idx] = v``) and ``scatter_add`` (``np.add.at(x, idx, v)``), the ops of
graphc/ops/indexing.py; gather, scatter_add_axis and concat are in
:mod:`graphc.kernels.cuda.gather`.

An index spec mixes slices, integers, new axes and integer arrays (NumPy's basic and
advanced indexing). Its shape bookkeeping is done once on the host per spec and shapes
(:func:`index_plan`); the kernels get the slices' starts and steps and the region's
sizes as scalars, so one compiled kernel serves every shape and slice of one spec's
*structure*. Each structure's kernel is printed as Python source and compiled with
``cuda.jit`` at first use (the number of index arrays, the rank, which axes they index
and which of their dimensions broadcast are written into the code; sizes are not).

- ``index``: one thread per output element, in a grid-stride loop. Array values wrap
  as NumPy's (``-1`` is the last); a value out of range writes 0 and records the
  element in the error word (below), never reading outside ``x``.
- ``setitem`` and ``scatter_add``: ``out`` is first a copy of ``x``. Then one thread per
  point of the *basic* part of the region (the dimensions the slices give), which loops
  over the index arrays' broadcast positions **in order**: two positions that hit one
  destination are always in one thread, so ``setitem`` keeps the last write (as NumPy)
  and ``scatter_add`` adds in NumPy's order (float16 in float32, rounded once per
  addition, as NumPy's float16 loop), with no atomics: the bits are those of
  ``np.add.at`` on the CPU, on every run. (The price: ``x[idx] +=``
  on a vector runs in one thread; a sorted or segmented form is future work.)

Errors: a kernel cannot raise, so a bad index records ``n - k`` in ``error`` (a
one-element int64 device array) with an atomic max, ``k`` the first bad element in the
kernel's own order, whatever the threads' order; the runtime later raises the CPU's
message (graphc/runtime/cuda_errors.py).

numba.cuda is imported here at the top (this module is imported only where the GPU
backend runs): the simulator swaps the ``cuda`` global of the kernels' namespace.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import cuda

THREADS = 256
MAX_BLOCKS = 1024


# ---- compiling printed kernels -----------------------------------------------------

@functools.cache
def compile_source(source: str, name: str):
    """The ``cuda.jit`` dispatcher of the function ``name`` that ``source`` defines.

    The source runs over a namespace of its own holding ``cuda`` (which the simulator
    swaps for its fake module while a kernel runs) and ``np``; built once per text.
    """
    namespace = {"__builtins__": builtins, "__name__": f"{__name__}.{name}", "cuda": cuda,
                 "np": np}
    exec(compile(source, f"<graphc.kernels.cuda {name}>", "exec"), namespace)  # noqa: S102
    return cuda.jit(namespace[name])


def launch(kernel, n: int, args: Sequence, stream=0, threads: int = THREADS,
           max_blocks: int = MAX_BLOCKS) -> None:
    """Queue ``kernel(*args)`` on ``stream`` with enough blocks of ``threads`` for ``n``
    grid-stride points, at most ``max_blocks``; nothing when ``n`` is 0."""
    if n <= 0:
        return
    blocks = max(1, min(max_blocks, -(-n // threads)))
    kernel[blocks, threads, stream](*args)


def subscript(exprs: Sequence[str]) -> str:
    """An index expression: ``()`` for a 0-d array."""
    return ", ".join(exprs) if exprs else "()"


def unflatten(flat: str, positions: Sequence[int], indent: str) -> list[str]:
    """Lines setting ``o<p>`` for each region position ``p`` (C order) from ``flat``,
    with ``r<p>`` the region's sizes."""
    if not positions:
        return []
    lines = [f"{indent}rest = {flat}"]
    for p in reversed(positions[1:]):
        lines += [f"{indent}o{p} = rest % r{p}", f"{indent}rest = rest // r{p}"]
    return lines + [f"{indent}o{positions[0]} = rest"]


GRID_LOOP = ("    i = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x\n"
             "    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x\n"
             "    while i < n:\n")


# ---- the host-side plan of an index spec -------------------------------------------

@dataclass(frozen=True)
class IndexPlan:
    """Where each axis of ``x`` reads in the region ``x[spec]``.

    ``axes``: per axis of ``x``, ``("s", p, start, step)`` (coordinate ``start + step *
    o<p>``), ``("i", k)`` or ``("a", j)`` (the value of index array ``j``). ``region``:
    the region's shape; ``block``: the region positions of the index arrays' broadcast
    shape; ``reads``: per array, the region coordinate (or ``0``, where it broadcasts)
    of each of its dimensions.
    """

    axes: tuple
    region: tuple[int, ...]
    block: tuple[int, ...]
    reads: tuple[tuple[str, ...], ...]

    def values(self) -> list[int]:
        """The kernel's scalar arguments after the arrays: region sizes, then each
        axis's start and step (slices) or value (integers)."""
        out = list(self.region)
        for axis in self.axes:
            if axis[0] == "s":
                out += [axis[2], axis[3]]
            elif axis[0] == "i":
                out.append(axis[1])
        return out

    def names(self) -> list[str]:
        """The names of :meth:`values` in the kernel's source."""
        out = [f"r{p}" for p in range(len(self.region))]
        for k, axis in enumerate(self.axes):
            if axis[0] == "s":
                out += [f"c{k}", f"t{k}"]
            elif axis[0] == "i":
                out.append(f"c{k}")
        return out

    def structure(self) -> tuple:
        """What the printed kernel depends on: everything but the sizes and values."""
        kinds = tuple(a[:2] if a[0] != "i" else ("i",) for a in self.axes)
        return kinds, len(self.region), self.block, self.reads

    def coordinates(self) -> list[str]:
        """Per axis of ``x``, its coordinate's expression."""
        out = []
        for k, axis in enumerate(self.axes):
            if axis[0] == "s":
                out.append(f"c{k} + t{k} * o{axis[1]}")
            elif axis[0] == "i":
                out.append(f"c{k}")
            else:
                out.append(f"v{axis[1]}")
        return out


@functools.lru_cache(maxsize=512)
def index_plan(spec: tuple, shape: tuple[int, ...],
               array_shapes: tuple[tuple[int, ...], ...]) -> IndexPlan:
    """The :class:`IndexPlan` of ``x[spec]`` for ``x`` of ``shape`` (NumPy's rules, as
    graphc.ops.indexing.index_result_shape; cached per spec and shapes).

    >>> p = index_plan((("s", 0, 4, 2), ("a", 0)), (4, 5), ((3,),))
    >>> p.region, p.block, p.reads
    ((2, 3), (1,), (('o1',),))
    """
    has_arrays = any(e[0] == "a" for e in spec)
    advanced = [p for p, e in enumerate(spec) if e[0] == "a" or (has_arrays and e[0] == "i")]
    bshape = np.broadcast_shapes(*[array_shapes[e[1]] for e in spec if e[0] == "a"]) \
        if has_arrays else ()
    adjacent = advanced == list(range(advanced[0], advanced[-1] + 1)) if advanced else True
    nb = len(bshape)
    # Apart (NumPy): the broadcast dimensions come first; together: where they stand.
    pos, start = (0, 0) if adjacent else (nb, 0)
    axes, region = [], [] if adjacent else list(bshape)
    for p, e in enumerate(spec):
        if e[0] == "n":
            region.append(1)
            pos += 1
            continue
        if p in advanced:
            if adjacent and p == advanced[0]:
                start = pos
                region.extend(bshape)
                pos += nb
            axes.append(("a", e[1]) if e[0] == "a" else ("i", e[1]))
        elif e[0] == "s":
            length = len(range(e[1], e[2], e[3]))
            axes.append(("s", pos, e[1], e[3]))
            region.append(length)
            pos += 1
        else:
            axes.append(("i", e[1]))
    if len(axes) != len(shape):
        raise ValueError(f"index spec {spec} has {len(axes)} axes for shape {shape}")
    block = tuple(range(start, start + nb))
    reads = []
    for a_shape in array_shapes:
        lead = nb - len(a_shape)
        reads.append(tuple("0" if d == 1 else f"o{block[lead + t]}"
                           for t, d in enumerate(a_shape)))
    return IndexPlan(tuple(axes), tuple(region), block, tuple(reads))


def _array_lines(plan: IndexPlan, target: str, indent: str) -> list[str]:
    """Lines reading each index array's value ``v<j>`` at the current position, wrapping
    negative values as NumPy and clearing ``ok`` for a value out of range."""
    lines = [f"{indent}ok = True"]
    for k, axis in enumerate(plan.axes):
        if axis[0] != "a":
            continue
        j = axis[1]
        v = f"v{j}"
        lines += [f"{indent}{v} = np.int64(a{j}[{subscript(plan.reads[j])}])",
                  f"{indent}if {v} < 0:",
                  f"{indent}    {v} += {target}.shape[{k}]",
                  f"{indent}if {v} < 0 or {v} >= {target}.shape[{k}]:",
                  f"{indent}    ok = False"]
    return lines


# ---- index: one thread per output element ------------------------------------------

@functools.cache
def index_kernel(structure: tuple, n_arrays: int):
    """The gather kernel of one spec structure: ``(x, out, error, n, a0.., sizes..)``
    with ``out`` flat (``n`` elements)."""
    plan = _plan_of(structure)
    params = ["x", "out", "error", "n", *[f"a{j}" for j in range(n_arrays)], *plan.names()]
    body = unflatten("i", list(range(len(plan.region))), " " * 8)
    body += _array_lines(plan, "x", " " * 8)
    body += ["        if ok:",
             f"            out[i] = x[{subscript(plan.coordinates())}]",
             "        else:",
             "            out[i] = 0",
             "            cuda.atomic.max(error, 0, n - i)",
             "        i += step"]
    source = f"def index_rows({', '.join(params)}):\n" + GRID_LOOP + "\n".join(body) + "\n"
    return compile_source(source, "index_rows")


def _plan_of(structure: tuple) -> IndexPlan:
    """A plan with the structure's kinds (the values are never printed)."""
    kinds, rank, block, reads = structure
    axes = tuple(k if k[0] != "i" else ("i", 0) for k in kinds)
    axes = tuple((*a, 0, 1) if a[0] == "s" else a for a in axes)
    return IndexPlan(axes, (1,) * rank, block, reads)


def index_into(x, arrays: Sequence, spec: tuple, out, error, stream=0, *,
               threads: int = THREADS, max_blocks: int = MAX_BLOCKS) -> None:
    """``out[...] = x[spec]`` (graphc's ``index`` op) on the GPU, queued on ``stream``.

    ``x`` and the integer ``arrays`` are device arrays of any strides, ``out`` a
    C-contiguous device array of the region's shape; a value out of range records its
    element in ``error`` (one int64) and writes 0 there.

    >>> index_into(x, [idx], (("a", 0), ("s", 0, 3, 1)), out, error)  # doctest: +SKIP
    """
    plan = index_plan(tuple(spec), tuple(x.shape), tuple(tuple(a.shape) for a in arrays))
    _check_region(plan, out.shape, "index")
    n = int(np.prod(plan.region, dtype=np.int64))
    if n == 0:
        return
    kernel = index_kernel(plan.structure(), len(arrays))
    launch(kernel, n, [x, out.reshape(n), error, n, *arrays, *plan.values()], stream,
           threads, max_blocks)


def _check_region(plan: IndexPlan, shape: Sequence[int], op: str) -> None:
    if tuple(shape) != plan.region:
        raise ValueError(f"{op}: the region has shape {plan.region}, not {tuple(shape)}")


# ---- setitem and scatter_add: serial over the index arrays' positions ---------------

def store(target: str, value: str, accumulate: bool, half: bool) -> str:
    """The statement writing ``value`` to ``target``, or adding it there: in float32 for
    float16 arrays (rounded once per addition, which gives NumPy's float16 sums)."""
    if not accumulate:
        return f"{target} = {value}"
    if half:
        return f"{target} = np.float32({target}) + np.float32({value})"
    return f"{target} += {value}"


@functools.cache
def write_kernel(structure: tuple, n_arrays: int, accumulate: bool, half: bool = False):
    """The writing kernel of one spec structure: ``(out, value, error, n, nb, a0..,
    sizes..)``; ``n`` points of the basic region, each looping over the ``nb`` positions
    of the arrays' broadcast shape. ``accumulate``: ``+=`` (scatter_add), else ``=``;
    ``half``: the arrays are float16 (the sums are computed in float32)."""
    plan = _plan_of(structure)
    params = ["out", "value", "error", "n", "nb", *[f"a{j}" for j in range(n_arrays)],
              *plan.names()]
    basic = [p for p in range(len(plan.region)) if p not in plan.block]
    region = subscript([f"o{p}" for p in range(len(plan.region))])
    target = f"out[{subscript(plan.coordinates())}]"
    body = unflatten("i", basic, " " * 8)
    body += ["        for b in range(nb):"]
    body += unflatten("b", list(plan.block), " " * 12)
    body += _array_lines(plan, "out", " " * 12)
    body += ["            if ok:",
             f"                {store(target, f'value[{region}]', accumulate, half)}",
             "            else:",
             "                cuda.atomic.max(error, 0, n * nb - (i * nb + b))",
             "        i += step"]
    name = "scatter_add_rows" if accumulate else "setitem_rows"
    source = f"def {name}({', '.join(params)}):\n" + GRID_LOOP + "\n".join(body) + "\n"
    return compile_source(source, name)


def setitem_into(x, value, arrays: Sequence, spec: tuple, out, error, stream=0, *,
                 accumulate: bool = False, threads: int = THREADS,
                 max_blocks: int = MAX_BLOCKS) -> None:
    """``out = x.copy(); out[spec] = value`` (``setitem``), or with ``accumulate``
    ``np.add.at(out, spec, value)`` (``scatter_add``), queued on ``stream``.

    ``out`` is a C-contiguous device array of ``x``'s shape (not ``x``); ``value`` has
    the region's shape. Repeated indices keep the last write, or add in NumPy's order.

    >>> setitem_into(x, v, [idx], (("a", 0),), out, error, accumulate=True)  # doctest: +SKIP
    """
    from .gather import copy_into

    plan = index_plan(tuple(spec), tuple(x.shape), tuple(tuple(a.shape) for a in arrays))
    _check_region(plan, value.shape, "scatter_add" if accumulate else "setitem")
    copy_into(x, out, stream, threads=threads, max_blocks=max_blocks)
    nb = int(np.prod([plan.region[p] for p in plan.block], dtype=np.int64))
    n = int(np.prod([d for p, d in enumerate(plan.region) if p not in plan.block],
                    dtype=np.int64))
    if n == 0 or nb == 0:
        return
    kernel = write_kernel(plan.structure(), len(arrays), accumulate,
                          np.dtype(out.dtype) == np.float16)
    launch(kernel, n, [out, value, error, n, nb, *arrays, *plan.values()], stream,
           threads, max_blocks)


# ---- compile-only ------------------------------------------------------------------

def ptx_for(kernel, args: Sequence, cc: tuple[int, int] = (9, 0)) -> str:
    """``kernel`` (a dispatcher built here or in :mod:`.gather`) compiled to PTX for
    compute capability ``cc`` with NVVM, no GPU or driver needed, for the types of the
    example ``args`` (host arrays stand for device arrays of their dtype, rank and
    layout; Python ints are int64); :class:`graphc.codegen.cuda_ptx.PTXVersionError` if
    the PTX is newer than the driver loads.

    >>> kernel = index_kernel(index_plan((("a", 0),), (5,), ((3,),)).structure(), 1)
    >>> ptx = ptx_for(kernel, [x, out, error, 3, idx, 3])  # doctest: +SKIP
    """
    from numba import typeof
    from numba import types as nbtypes

    from graphc.codegen.cuda_ptx import function_ptx

    argtypes = tuple(nbtypes.int64 if isinstance(a, int) else typeof(a) for a in args)
    return function_ptx(kernel.py_func, argtypes, cc)
