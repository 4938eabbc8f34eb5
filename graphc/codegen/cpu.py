"""The CPU renderer: prints a scheduled kernel IR as readable Python source for numba.

Nothing is decided here: lowering (graphc/codegen/lower.py) said what the kernel
computes, the schedule (graphc/codegen/cpu_schedule.py) how it runs; this module walks
the loops the schedule chose and prints each value of the IR where a loop first needs it
(once per loop scope), each named scalar op through the table in
graphc/codegen/cpu_ops.py. Rows form here; columns and whole forms in cpu_columns.py and
cpu_whole.py.

Loops always start at 0 (``prange(n)``, ``range(n)``): numba then knows indices are
non-negative, drops its negative-index wraparound and LLVM vectorises the inner loop.
Measured here on 16M float32: a hand-blocked ``range(lo, hi)`` loop ran 19 ms where the
same loop under ``prange`` ran 6 ms.

Sizes are never baked into the source. The IR passes them as integer parameters; the
CPU renderer packs them into one int64 array, ``sh`` (``sh[k]`` is size parameter
``n<k>``), because numba's dispatcher types one array faster than several integers
(docs/performance.md, issue 15).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import FusedGraph, Kernel
from ..ir.kernel_ir import Ix, KernelIR, Load, Reduce
from .cpu_columns import ColumnPrinter
from .cpu_ops import arg_condition, combine_rule, scalar_op_text
from .cpu_schedule import CpuSchedule, schedule_cpu
from .cpu_whole import WholePrinter
from .lower import lower_kernel
from .printer import ValuePrinter
from .python_ops import compute_dtype, literal

# Reassociation lets a reduction's loop vectorise; no nnan/ninf, so NaN and Inf keep their
# semantics. Only kernels with a reduction get it, and their order of operations is still
# fixed by the source and the compiled code (whole reductions run in blocks of a fixed
# order: cpu_whole.py), so results do not depend on threads. A map kernel compiles with
# strict IEEE arithmetic: LLVM may not reassociate (x * s) * t into x * (s * t), so it
# computes each op as NumPy does (the interpreted first-sighting tier, in-place variants).
# No FMA contraction ("contract"): a kernel recomputes a value in several passes (the max
# of a row, then `x == max` for its gradient), and contraction may fuse `x*x + c` into an
# FMA in one loop and not in another, so the recomputed value misses the max by an ulp
# and the gradient of a max loses its mass (found by the differential gradient test).
# error_model="numpy": a float division by zero gives inf or nan, as in NumPy (numba's
# default raises ZeroDivisionError).
FASTMATH = '{"reassoc"}'


@dataclass
class KernelSource:
    """A rendered kernel: its IR, schedule, module source and how to call it."""

    kernel: Kernel | None
    source: str
    params: list  # graphc.ir.kernel_ir.Param, in call order
    sizes: list[int]  # values of sh[0], sh[1], ...
    ir: KernelIR | None = None
    schedule: CpuSchedule | None = None


@dataclass
class _RowReduction:
    """One reduction of a rows kernel while it is printed: its names in the source."""

    r: int
    item: Reduce
    acc: str  # the accumulator
    acc_dtype: str
    combine: str  # the update's template ({acc}, {v})
    best: str | None  # argmax/argmin: the position found so far
    nans: str | None  # float max/min: the NaN count
    target: str  # what a point updates: the accumulator, or its lane


class _Printer(ValuePrinter, ColumnPrinter, WholePrinter):
    scalar_op_text = staticmethod(scalar_op_text)

    def __init__(self, ir: KernelIR, schedule: CpuSchedule,
                 aliases: dict[int, int] | None = None) -> None:
        super().__init__(ir)
        self.schedule = schedule
        self.aliases = aliases or {}  # output param → the input param it overwrites
        self.unsigned: dict[str, str] = {}  # loop index → its unsigned copy (cpu_whole.py)

    def size_name(self, k: int) -> str:
        return f"sh[{k}]"

    def load(self, item: Load) -> tuple[str, bool]:
        name = self.param_name(item.param)
        if not item.index:
            # A 0-d input (a learning rate) is read once, before the loops: parfor
            # lowering cannot index a 0-d array inside a prange loop.
            return self.hoist(name, f"{name}[()]"), True
        return name + self.subscript(self.index_text(item.index, unsigned=True)), False

    @staticmethod
    def subscript(index: tuple[str, ...]) -> str:
        return "[" + ", ".join(index) + "]" if index else "[()]"  # a 0-d array

    def index_text(self, index: tuple[Ix, ...], unsigned: bool = False) -> tuple[str, ...]:
        """``index`` as source; ``unsigned``: a component that is a loop variable with an
        unsigned copy (cpu_whole.py) reads the copy (only a bare variable: arithmetic
        mixing uint64 and int64 would give a float)."""
        return tuple(self.unsigned.get(i.args[0], i.args[0])
                     if unsigned and i.is_var else i.text(self.size_name)
                     for i in index)

    def store(self, position: int) -> None:
        s = self.ir.stores[position]
        v = self.value(s.value)
        self.emit(f"{self.param_name(s.param)}{self.subscript(self.index_text(s.index))} = {v}")
        self.stored.add(position)

    # ---- reductions -------------------------------------------------------------
    def reduction_parts(self, r: int) -> tuple[Reduce, str, str, str]:
        """(the Reduce, accumulator dtype, initial value, combine statement template)."""
        item = self.ir.values[r]
        acc = self.schedule.accumulator(r)
        init = literal(item.identity, acc)
        return item, acc, init, combine_rule(item, acc)

    def reduce_loops(self, loops: list[int], body, parallel: bool = False) -> None:
        """Nested loops over ``loops`` axes; the first under ``prange`` if ``parallel``."""
        for n, axis in enumerate(loops):
            self.emit(f"for i{axis} in {self.loop(parallel and n == 0)}({self.dim(axis)}):")
            self.push()
        body()
        for _ in loops:
            self.pop()

    def loop(self, parallel: bool) -> str:
        """``prange`` for a parallel loop of a parallel kernel, else ``range``."""
        return "prange" if parallel and self.schedule.parallel else "range"

    def finish_row(self, r: int, acc: str) -> None:
        var = self.fresh("r")
        self.emit(f"{var} = {compute_dtype(self.ir.values[r].dtype)}({acc})")
        self.row_vars[r] = var

    def row_epilogue(self, r: int) -> None:
        """Store the per-row values that became available after reduction ``r``: its own
        value first, then the others whose reductions are all done."""
        stores = self.ir.stores
        own = [n for n, s in enumerate(stores) if s.per_row and s.value == r]
        rest = [n for n, s in enumerate(stores) if s.per_row
                and not isinstance(self.ir.values[s.value], Reduce)]
        for n in own + rest:
            if n not in self.stored and self.ir.reductions_read(stores[n].value) <= \
                    set(self.row_vars):
                self.store(n)

    def row_wave(self, wave: list[int], reduced: list[int],
                 reuse: tuple[int, int] | None = None) -> None:
        """One pass over the reduced axes of a row accumulating every reduction of
        ``wave`` (the schedule's ``waves``: none reads another), so that the values they
        share are computed once per point; each keeps its own accumulator and order."""
        parts = [self.reduction_start(r, reduced) for r in wave]

        def body() -> None:
            values = [self.value(part.item.input) for part in parts]
            if reuse is not None:
                shared, position = reuse
                keep = self.value(shared)
                out = self.ir.stores[position]
                self.emit(f"{self.param_name(out.param)}"
                          f"{self.subscript(self.index_text(out.index))} = {keep}")
            for part, v in zip(parts, values):
                self.reduction_step(part, v)

        self.reduce_loops(reduced, body)
        for part in parts:
            self.reduction_finish(part, reduced)

    def reduction_start(self, r: int, reduced: list[int]) -> _RowReduction:
        """Emit reduction ``r``'s accumulator (and lanes, NaN count, argument index)
        before its loops; what its step and finish need."""
        item, acc_dtype, init, combine = self.reduction_parts(r)
        acc = self.fresh("acc")
        self.emit(f"{acc} = {init}")
        is_arg = item.combine in ("argmax", "argmin")
        best = self.fresh("arg") if is_arg else None
        if is_arg:
            self.emit(f"{best} = 0")
        nans = None
        if item.combine in ("max", "min") and item.src_dtype.startswith("float"):
            # max()/min() vectorise; a NaN count keeps NumPy's NaN propagation.
            nans = self.fresh("nans")
            self.emit(f"{nans} = 0")
            combine = (f"{{acc}} = {item.combine}({{acc}}, {{v}})\n"
                       f"{nans} += 1 if {{v}} != {{v}} else 0")
        target = acc
        if r in self.schedule.lanes:
            # One accumulator per position of the last axis ("lanes"), folded after the
            # loops: the inner loop is then an elementwise update that vectorises however
            # short the axis is (28 in a BatchNorm sum over (0, 2, 3)), where a scalar
            # accumulator's vectorised loop would run mostly in its scalar remainder.
            lane = self.fresh("lane")
            target = f"{lane}[i{reduced[-1]}]"
            self.emit(f"{lane} = np.full(({self.dim(reduced[-1])},), {init}, {acc_dtype})")
        return _RowReduction(r, item, acc, acc_dtype, combine, best, nans, target)

    def reduction_step(self, part: _RowReduction, v: str) -> None:
        """Emit one point's update of a reduction with value ``v`` (inside its loops)."""
        if part.best is not None:
            self.emit(f"if {arg_condition(part.combine, v, part.acc)}:")
            self.emit(f"    {part.acc} = {v}")
            self.emit(f"    {part.best} = {self.full_index[part.item.position_axis]}")
        else:
            for line in part.combine.format(acc=part.target, v=v).split("\n"):
                self.emit(line)

    def reduction_finish(self, part: _RowReduction, reduced: list[int]) -> None:
        """After the loops: fold the lanes, apply the NaN count, name the row's value."""
        acc = part.acc
        if part.target != acc:  # lanes: fold them
            self.emit(f"for i{reduced[-1]} in range({self.dim(reduced[-1])}):")
            self.emit("    " + part.combine.split("\n")[0].format(acc=acc, v=part.target))
        if part.nans is not None:
            self.emit(f"{acc} = {part.acc_dtype}(np.nan) if {part.nans} > 0 else {acc}")
        self.finish_row(part.r, part.best if part.best is not None else acc)

    # ---- kernel -----------------------------------------------------------------
    def rows(self) -> None:
        """Parallel over the first kept axis; reductions run per row inside."""
        ir = self.ir
        kept, reduced = ir.kept_axes, ir.reduced_axes
        for n, a in enumerate(kept):
            self.emit(f"for i{a} in {self.loop(n == 0)}({self.dim(a)}):")
            self.push()
        reuse = self.schedule.reuse
        for wave in self.schedule.waves or tuple((r,) for r in ir.reductions):
            self.row_wave(list(wave), reduced,
                          reuse if wave[-1] == ir.reductions[-1] else None)
            for r in wave:
                self.row_epilogue(r)
        full = [n for n, s in enumerate(ir.stores) if not s.per_row]
        if full:
            def final() -> None:
                if reuse is not None:  # read back what the last reduction stored
                    shared, position = reuse
                    out = ir.stores[position]
                    self.scopes[-1][shared] = (self.param_name(out.param)
                                               + self.subscript(self.index_text(out.index)))
                for n in full:
                    self.store(n)

            self.reduce_loops(reduced, final)

    def render(self) -> str:
        ir = self.ir
        body_start = len(self.lines)
        {"rows": self.rows, "columns": self.columns, "whole": self.whole}[self.schedule.form]()
        body = self.prologue + self.lines[body_start:]
        signature = [self.param_name(p) for p in range(len(ir.params)) if p not in self.aliases]
        uses_prange = any(" prange(" in line for line in body)
        deco = "@njit(" + "parallel=True, " * uses_prange + "nogil=True, cache=True, " \
            + f"fastmath={FASTMATH}, " * bool(ir.reductions) + 'error_model="numpy")'
        # The kernel's name stays out of its source: kernels of the same structure (every
        # layer's bias + ReLU) then share one cache entry and one compile.
        header = [
            f"# graphc kernel: {len(ir.ops)} ops over domain "
            f"{'x'.join('N' if d != 1 else '1' for d in ir.domain) or 'scalar'}"
            + (f", reducing axes {ir.reduce_axes}" if ir.reduce_axes else ""),
            f"# ops: {' '.join(ir.ops)}",
        ]
        if self.aliases:
            header.append("# in place: " + ", ".join(
                f"{self.param_name(i)} is also out{o}" for o, i in self.aliases.items()))
        header += [
            "import numpy as np",
            "from numba import njit, prange",
            "from numpy import bool_, float32, float64, int8, int16, int32, int64, uint8",
            "from graphc.codegen.mathlib import *  # noqa: F403",
            "",
            "",
            deco,
            f"def kernel({''.join(name + ', ' for name in signature)}sh):",
        ]
        return "\n".join(header + (body or ["    pass"])) + "\n"


def print_kernel(ir: KernelIR, schedule: CpuSchedule,
                 aliases: dict[int, int] | None = None) -> str:
    """The numba source of ``ir`` run as ``schedule`` says; ``aliases`` maps an output
    parameter to the input parameter it overwrites (an in-place variant)."""
    return _Printer(ir, schedule, aliases).render()


def render_kernel(fused: FusedGraph, kernel: Kernel, runtime_scalars: set[int]) -> KernelSource:
    """Lower, schedule and print one ``loop`` kernel. ``runtime_scalars`` are the uids
    of scalar nodes passed at run time (not baked in)."""
    ir = lower_kernel(fused, kernel, runtime_scalars)
    schedule = schedule_cpu(ir)
    return KernelSource(kernel, print_kernel(ir, schedule), list(ir.params), list(ir.sizes),
                        ir, schedule)


def in_place_source(ks: KernelSource, pairs: list[tuple[int, int]]) -> str:
    """The in-place variant of ``ks``: each pair's output parameter merged into its input
    (the pairs come from graphc.codegen.cpu_in_place.in_place_pairs)."""
    return print_kernel(ks.ir, ks.schedule, {o: i for i, o in pairs})

