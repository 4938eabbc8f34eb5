"""The CUDA renderer: prints a scheduled kernel IR as ``@cuda.jit`` kernel source.

Nothing is decided here: lowering (graphc/codegen/lower.py) said what the kernel
computes, the CUDA schedule (graphc/codegen/cuda_schedule.py) how it runs; this module
prints the schedule's grid-stride loops, shared-memory trees and barriers, and each value
of the IR where a loop first needs it (once per loop scope), each named scalar op through
the table in graphc/codegen/cuda_ops.py, whose helpers are the inlined device functions
of graphc/codegen/cuda_mathlib.py. The kernel is the same IR the CPU renders
(graphc/codegen/cpu.py): a second schedule and printer, not a second compiler.

How a kernel is called (:class:`CudaKernelSource`): its array, scalar and output
parameters in the IR's order, then the size parameters ``n0, n1, ...`` as integer
scalars (never a host array, which numba.cuda would copy to the device at each launch).
0-d arrays are passed as 1-element 1-D arrays (``layouts`` ``"one"``) and, in a flat
kernel, arrays as 1-D (``"flat"``); graphc/codegen/cuda_ptx.py loads, launches and
compiles kernels (to PTX without a GPU). Nothing here imports numba.cuda. Generated
kernels use no fastmath flags (NaN and Inf keep their semantics); see docs/gpu.md for
FMA contraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..ir import FusedGraph, Kernel
from ..ir.kernel_ir import Ix, KernelIR, Load, Param, Reduce
from .cuda_ops import arg_takes, combine_text, scalar_op_text
from .cuda_schedule import CudaSchedule, Launch, schedule_cuda
from .in_place import point_may_overwrite
from .lower import lower_kernel
from .printer import ValuePrinter
from .python_ops import compute_dtype, literal


@dataclass
class CudaKernelSource:
    """A rendered CUDA kernel: its IR, schedule, module source and how to call it."""

    kernel: Kernel | None
    source: str
    params: list[Param]  # in call order; then the sizes
    sizes: list[int]  # values of n0, n1, ...
    layouts: list[str]  # per parameter: "" (as is), "flat" (1-D) or "one" (0-d as (1,))
    ir: KernelIR
    schedule: CudaSchedule

    def grid(self, sizes: Sequence[int] | None = None) -> tuple[int, int]:
        """(blocks, threads per block) to launch over ``sizes`` (default: the IR's)."""
        return self.schedule.grid(self.ir, list(self.sizes if sizes is None else sizes))


class _CudaPrinter(ValuePrinter):
    scalar_op_text = staticmethod(scalar_op_text)

    def __init__(self, ir: KernelIR, schedule: CudaSchedule,
                 aliases: dict[int, int] | None = None) -> None:
        super().__init__(ir)
        self.aliases = aliases or {}  # output param → the input param it overwrites
        self.schedule = schedule
        self.bits = schedule.index_bits
        self.itype = "uint32" if self.bits == 32 else "int64"
        self.layouts = [self._layout(p) for p in range(len(ir.params))]

    def _layout(self, p: int) -> str:
        param = self.ir.params[p]
        if param.kind == "scalar":
            return ""
        if param.ndim == 0:
            return "one"
        return "flat" if self.schedule.flat else ""

    def size_name(self, k: int) -> str:
        return f"n{k}"

    def load(self, item: Load) -> tuple[str, bool]:
        name = self.param_name(item.param)
        cast = "float32" if item.dtype == "float16" else ""
        if self.layouts[item.param] == "one":  # read once, before the loops
            return self.hoist(name, f"{cast}({name}[0])"), True
        return f"{cast}({name}{self.subscript(item.param, item.index)})", False

    def ix(self, text: str) -> str:
        """``text`` as an index-math integer (uint32 or int64, the schedule's bits)."""
        return f"{self.itype}({text})"

    def udim(self, axis: int) -> str:
        """The extent of ``axis`` in index-math integers (hoisted once)."""
        k = self.ir.dims[axis]
        if self.bits == 64 or k is None:
            return self.dim(axis)
        name = f"m{k}"
        line = f"    {name} = uint32(n{k})"
        if line not in self.prologue:
            self.prologue.append(line)
        return name

    def subscript(self, p: int, index: tuple[Ix, ...]) -> str:
        layout = self.layouts[p]
        if layout == "one":
            return "[0]"
        if layout == "flat":
            return "[t]"
        return "[" + ", ".join(i.text(self.size_name) for i in index) + "]"

    def store(self, position: int) -> None:
        s = self.ir.stores[position]
        v = self.value(s.value)
        self.emit(f"{self.param_name(s.param)}{self.subscript(s.param, s.index)} = {v}")
        self.stored.add(position)

    # ---- index math ---------------------------------------------------------------
    def decompose(self, flat: str, axes: list[int]) -> None:
        """Set the loop variables of ``axes`` (outer first) from the flat index ``flat``
        (row-major): one division and remainder per axis but the first."""
        if not axes:
            return
        if len(axes) == 1:
            self.emit(f"i{axes[0]} = int64({flat})")
            return
        u = self.fresh("u")
        self.emit(f"{u} = {flat}")
        for axis in reversed(axes[1:]):
            n = self.udim(axis)
            self.emit(f"i{axis} = int64({u} % {n})")
            self.emit(f"{u} = {self.ix(f'{u} // {n}')}")
        self.emit(f"i{axes[0]} = int64({u})")

    def extent(self, axes: list[int]) -> str:
        """The number of points of ``axes`` in index-math integers."""
        if not axes:
            return self.ix("1")
        return self.ix(" * ".join(self.dim(a) for a in axes))

    def grid_stride(self, var: str, start: str, step: str, total: str, body) -> None:
        """``var`` from ``start`` below ``total`` by ``step``: ``while`` loop, body inside."""
        self.emit(f"{var} = {self.ix(start)}")
        self.emit(f"while {var} < {total}:")
        self.push()
        body()
        self.emit(f"{var} = {self.ix(f'{var} + {step}')}")
        self.pop()

    # ---- reductions ---------------------------------------------------------------
    def finish(self, r: int, acc: str) -> None:
        """Make ``acc`` (the accumulator, or the position of an argmax) reduction ``r``'s
        row value."""
        item = self.ir.values[r]
        var = self.fresh("r")
        if item.combine in ("argmax", "argmin"):
            self.emit(f"{var} = {compute_dtype(item.dtype)}({acc})")
        elif item.src_dtype == "bool" and item.combine in ("max", "min"):
            self.emit(f"{var} = {acc} != 0")
        else:
            self.emit(f"{var} = {compute_dtype(item.dtype)}({acc})")
        self.row_vars[r] = var

    def element(self, item: Reduce) -> str:
        """The reduced value at the current point (bools as int32 0/1)."""
        v = self.value(item.input)
        return f"int32({v})" if item.src_dtype == "bool" else v

    def fold(self, item: Reduce, acc: str, best: str | None, v: str) -> None:
        """Fold ``v`` (met in increasing position order) into ``acc`` (and ``best``)."""
        if best is not None:
            condition = combine_text(item, acc, v).split(" if ", 1)[1].split(" else ")[0]
            self.emit(f"if {condition}:")
            self.emit(f"    {acc} = {v}")
            self.emit(f"    {best} = int64({self.full_index[item.position_axis]})")
        else:
            self.emit(f"{acc} = {combine_text(item, acc, v)}")

    def row_epilogue(self, r: int, guard: str = "") -> None:
        """Store the per-row values available after reduction ``r`` (under ``guard``:
        one thread of the block writes them)."""
        stores = self.ir.stores
        own = [n for n, s in enumerate(stores) if s.per_row and s.value == r]
        rest = [n for n, s in enumerate(stores) if s.per_row
                and not isinstance(self.ir.values[s.value], Reduce)]
        ready = [n for n in own + rest if n not in self.stored
                 and self.ir.reductions_read(stores[n].value) <= set(self.row_vars)]
        if not ready:
            return
        if guard:
            self.emit(f"if {guard}:")
            self.push()
        for n in ready:
            self.store(n)
        if guard:
            self.pop()

    def serial_loops(self, axes: list[int], body) -> None:
        for axis in axes:
            self.emit(f"for i{axis} in range({self.dim(axis)}):")
            self.push()
        body()
        for _ in axes:
            self.pop()

    # ---- the two forms --------------------------------------------------------------
    def threads(self) -> None:
        """One thread per kept point, reductions serial inside (module doc of the
        schedule)."""
        ir = self.ir
        kept, reduced = ir.kept_axes, ir.reduced_axes
        start = "cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x"
        if self.bits == 32:
            start = ("uint32(cuda.blockIdx.x) * uint32(cuda.blockDim.x) "
                     "+ uint32(cuda.threadIdx.x)")
            self.emit("stride = uint32(uint32(cuda.gridDim.x) * uint32(cuda.blockDim.x))")
        else:
            self.emit("stride = int64(cuda.gridDim.x) * int64(cuda.blockDim.x)")
        self.emit(f"total = {self.extent(kept)}")

        def body() -> None:
            if not self.schedule.flat:
                self.decompose("t", kept)
            for r in ir.reductions:
                self.serial_reduction(r, reduced)
                self.row_epilogue(r)
            full = [n for n, s in enumerate(ir.stores) if not s.per_row]
            if full:
                self.serial_loops(reduced, lambda: [self.store(n) for n in full])

        self.grid_stride("t", start, "stride", "total", body)

    def serial_reduction(self, r: int, reduced: list[int]) -> None:
        item = self.ir.values[r]
        acc_dtype = self.schedule.accumulator(r)
        acc = self.fresh("acc")
        self.emit(f"{acc} = {literal(item.identity, acc_dtype)}")
        best = None
        if item.combine in ("argmax", "argmin"):
            best = self.fresh("arg")
            self.emit(f"{best} = int64(0)")
        self.serial_loops(reduced, lambda: self.fold(item, acc, best, self.element(item)))
        self.finish(r, best or acc)

    def blocks(self) -> None:
        """One block per row, a shared-memory tree per reduction (schedule module doc)."""
        ir = self.ir
        kept, reduced = ir.kept_axes, ir.reduced_axes
        if self.bits == 32:
            self.emit("tid = uint32(cuda.threadIdx.x)")
            self.emit("bdim = uint32(cuda.blockDim.x)")
            self.emit("gdim = uint32(cuda.gridDim.x)")
        else:
            self.emit("tid = int64(cuda.threadIdx.x)")
            self.emit("bdim = int64(cuda.blockDim.x)")
            self.emit("gdim = int64(cuda.gridDim.x)")
        self.emit(f"rows = {self.extent(kept)}")
        self.emit(f"points = {self.extent(reduced)}")

        def row() -> None:
            self.decompose("row", kept)
            for r in ir.reductions:
                self.tree_reduction(r, reduced)
                self.row_epilogue(r, guard=f"tid == {self.ix(0)}")
            full = [n for n, s in enumerate(ir.stores) if not s.per_row]
            if full:
                def point() -> None:
                    self.decompose("p", reduced)
                    for n in full:
                        self.store(n)

                self.grid_stride("p", "tid", "bdim", "points", point)

        self.grid_stride("row", "cuda.blockIdx.x", "gdim", "rows", row)

    def tree_reduction(self, r: int, reduced: list[int]) -> None:
        item = self.ir.values[r]
        acc_dtype = self.schedule.accumulator(r)
        threads = self.schedule.threads
        is_arg = item.combine in ("argmax", "argmin")
        shared = f"sh{r}"
        # One cuda.shared.array per line: the simulator aliases two on one line.
        self.prologue.append(f"    {shared} = cuda.shared.array({threads}, {acc_dtype})")
        if is_arg:
            self.prologue.append(f"    {shared}i = cuda.shared.array({threads}, int64)")
        acc = self.fresh("acc")
        self.emit(f"{acc} = {literal(item.identity, acc_dtype)}")
        best = None
        if is_arg:
            best = self.fresh("arg")
            self.emit(f"{best} = int64(0)")

        def point() -> None:
            self.decompose("p", reduced)
            self.fold(item, acc, best, self.element(item))

        self.grid_stride("p", "tid", "bdim", "points", point)
        self.emit(f"{shared}[tid] = {acc}")
        if is_arg:
            self.emit(f"{shared}i[tid] = {best}")
        self.emit("cuda.syncthreads()")
        self.emit(f"step = {self.ix(threads // 2)}")
        self.emit(f"while step > {self.ix(0)}:")
        self.push()
        self.emit("if tid < step:")
        self.push()
        a, b = self.fresh("a"), self.fresh("b")
        self.emit(f"{a} = {shared}[tid]")
        self.emit(f"{b} = {shared}[tid + step]")
        if is_arg:
            ia, ib = f"{shared}i[tid]", f"{shared}i[tid + step]"
            self.emit(f"if {arg_takes(item, a, ia, b, ib)}:")
            self.emit(f"    {shared}[tid] = {b}")
            self.emit(f"    {shared}i[tid] = {ib}")
        else:
            self.emit(f"{shared}[tid] = {combine_text(item, a, b)}")
        self.pop()
        self.emit("cuda.syncthreads()")
        self.emit(f"step = {self.ix('step // 2')}")
        self.pop()
        self.finish(r, f"{shared}i[0]" if is_arg else f"{shared}[0]")
        self.emit("cuda.syncthreads()  # every thread has read the result: sh is free")

    # ---- kernel -------------------------------------------------------------------
    def render(self) -> str:
        ir = self.ir
        {"threads": self.threads, "blocks": self.blocks}[self.schedule.form]()
        body = self.prologue + self.lines
        signature = [self.param_name(p) for p in range(len(ir.params))
                     if p not in self.aliases]
        signature += [f"n{k}" for k in range(len(ir.sizes))]
        header = [
            f"# graphc CUDA kernel: {len(ir.ops)} ops over domain "
            f"{'x'.join('N' if d != 1 else '1' for d in ir.domain) or 'scalar'}"
            + (f", reducing axes {ir.reduce_axes}" if ir.reduce_axes else ""),
            f"# ops: {' '.join(ir.ops)}",
            f"# {self.schedule}",
            "import math",
            "",
            "import numpy as np",
            "from numba import cuda",
            "from numpy import bool_, float32, float64, int8, int16, int32, int64, uint8",
            "from numpy import uint16, uint32, uint64",
            "",
            "from graphc.codegen.cuda_mathlib import *  # noqa: F403",
            "",
            "",
            "@cuda.jit",
            f"def kernel({', '.join(signature)}):",
        ]
        return "\n".join(header + (body or ["    pass"])) + "\n"


def print_cuda_kernel(ir: KernelIR, schedule: CudaSchedule,
                      aliases: dict[int, int] | None = None) -> tuple[str, list[str]]:
    """The ``@cuda.jit`` source of ``ir`` run as ``schedule`` says, and the layouts of the
    parameters it takes (see :class:`CudaKernelSource`). ``aliases`` maps an output
    parameter to the input it overwrites (merged into it: the in-place variant)."""
    printer = _CudaPrinter(ir, schedule, aliases)
    source = printer.render()
    return source, [layout for p, layout in enumerate(printer.layouts)
                    if p not in printer.aliases]


def render_ir(ir: KernelIR, launch: Launch | None = None,
              shapes: dict[int, tuple[int, ...]] | None = None,
              kernel: Kernel | None = None, flat: bool = True) -> CudaKernelSource:
    """Schedule and print a kernel IR for CUDA (``launch``, ``flat``: see
    ``schedule_cuda``)."""
    schedule = schedule_cuda(ir, launch, shapes, flat)
    source, layouts = print_cuda_kernel(ir, schedule)
    return CudaKernelSource(kernel, source, list(ir.params), list(ir.sizes), layouts, ir,
                            schedule)


def render_cuda_kernel(fused: FusedGraph, kernel: Kernel, runtime_scalars: set[int],
                       launch: Launch | None = None) -> CudaKernelSource:
    """Lower, schedule and print one ``loop`` kernel for CUDA: the same lowering and
    kernel IR as the CPU's ``render_kernel``."""
    return render_ir(lower_kernel(fused, kernel, runtime_scalars), launch, kernel=kernel)


def may_overwrite(ks: CudaKernelSource, source: int, output: int) -> bool:
    """Whether output parameter ``output`` of ``ks`` may be written over input ``source``
    (graphc/codegen/in_place.py): in the threads form without reductions one thread
    computes each point, its stores in order."""
    return ks.schedule.form == "threads" and point_may_overwrite(ks.ir, source, output)


def in_place_variant(ks: CudaKernelSource, pairs: list[tuple[int, int]]) -> CudaKernelSource:
    """``ks`` with each pair's output parameter merged into its input (pairs that
    :func:`may_overwrite` allows): called without those outputs, it updates the inputs."""
    aliases = {o: i for i, o in pairs}
    source, layouts = print_cuda_kernel(ks.ir, ks.schedule, aliases)
    params = [p for n, p in enumerate(ks.params) if n not in aliases]
    return CudaKernelSource(ks.kernel, source, params, list(ks.sizes), layouts, ks.ir,
                            ks.schedule)


def strided_variant(ks: CudaKernelSource) -> CudaKernelSource:
    """``ks`` itself, or, for a flat kernel, the same kernel keeping its dimensions (for
    a call whose arrays are not all C-contiguous)."""
    if not ks.schedule.flat:
        return ks
    launch = Launch(ks.schedule.max_blocks, ks.schedule.threads)
    return render_ir(ks.ir, launch, kernel=ks.kernel, flat=False)
