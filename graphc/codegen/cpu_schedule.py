"""The CPU schedule: how a kernel IR runs on the CPU, decided before any text is written.

A :class:`CpuSchedule` annotates one :class:`~graphc.ir.kernel_ir.KernelIR`:

- ``form``: ``rows`` (kept axes outer, the first under ``prange``; each pass of
  reductions one loop over the reduced axes per row), ``columns`` (the last axis is
  kept: the loop nest runs in memory order and reductions accumulate per column,
  graphc/codegen/cpu_columns.py) or ``whole`` (every axis reduced:
  graphc/codegen/cpu_whole.py);
- ``parallel``: whether the kernel runs under ``prange`` at all (``PARALLEL_MIN_ELEMENTS``);
  so each kernel has at most two variants, small and large, never one per size;
- ``lanes``: the reductions that accumulate in one accumulator per position of the last
  reduced axis (``LANE_MIN_ROW``);
- ``column_blocks``: a columns kernel whose reduced first axis runs in blocks, each with
  its own partial accumulators;
- ``waves``: the reductions grouped into passes (columns and rows kernels): a pass
  holds reductions that read none of each other, so the values they share are read and
  computed once per point (BatchNorm's backward sums three such reductions);
- ``fixed_blocks``: the whole reductions computed in blocks of a fixed order (floats in a
  parallel kernel: bit-identical results under any thread count);
- ``accumulators``: each reduction's accumulator dtype (float64 for float sums and
  products, int64 for integer ones, the computed dtype for max and min);
- ``reuse``: a value the last reduction's loop computes that the final loop needs again
  (softmax's ``exp(x - max)``), kept meanwhile in the buffer of the one output stored per
  point, with that store's position.

In-place legality is a question about the scheduled IR: graphc/codegen/cpu_in_place.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.kernel_ir import Apply, KernelIR, Reduce

# Below this many points in its iteration domain a kernel runs serially: numba's thread
# launch costs more than it saves there, and a serial kernel compiles several times
# faster (parfors lowering dominates cold compile time). 2^20: inside the MLP training
# step the serial SGD update of a 512x784 weight took 0.20-0.25 ms against 0.29-0.31 ms
# under prange (waking the sleeping threads costs more than the second core saves on a
# memory-bound pass), and compiles 0.5 s faster.
PARALLEL_MIN_ELEMENTS = 1 << 20
# Reductions accumulate into arrays where that keeps the inner loop contiguous and
# vectorised: per-column accumulators when the last axis is kept (cpu_columns.py), lanes
# over a reduced last axis. False schedules the older scalar-accumulator rows (benchmarks
# compare the two: scripts/bench_reductions.py).
ARRAY_ACCUMULATORS = True
# Lanes pay one small allocation per row: only rows of at least this many reduced points
# use them (measured sums over (1, 2): 32-point rows 4x slower with lanes, 128-point rows
# 1.6x slower, 224 to 2048 even, BatchNorm's 784 x 64 rows 2x faster).
LANE_MIN_ROW = 512


@dataclass(frozen=True)
class CpuSchedule:
    """The CPU's decisions for one kernel IR (see the module doc)."""

    form: str
    parallel: bool
    lanes: frozenset[int] = frozenset()
    column_blocks: bool = False
    waves: tuple[tuple[int, ...], ...] = ()
    fixed_blocks: frozenset[int] = frozenset()
    accumulators: tuple[tuple[int, str], ...] = ()
    reuse: tuple[int, int] | None = None

    def accumulator(self, reduction: int) -> str:
        """The dtype reduction ``reduction`` accumulates in."""
        return dict(self.accumulators)[reduction]

    def __str__(self) -> str:
        parts = [f"form {self.form}", "parallel (prange)" if self.parallel else "serial"]
        if self.lanes:
            parts.append("lanes for " + ", ".join(f"%{r}" for r in sorted(self.lanes)))
        if self.column_blocks:
            parts.append("reduced first axis in blocks of partial accumulators")
        if self.waves:
            parts.append("passes " + " | ".join(
                " ".join(f"%{r}" for r in wave) for wave in self.waves))
        if self.fixed_blocks:
            parts.append("fixed blocks for " + ", ".join(f"%{r}"
                                                          for r in sorted(self.fixed_blocks)))
        if self.accumulators:
            parts.append("accumulators " + ", ".join(f"%{r}: {d}" for r, d in self.accumulators))
        if self.reuse is not None:
            parts.append(f"%{self.reuse[0]} kept in the output of store {self.reuse[1]}")
        return "schedule: " + "; ".join(parts)


def accumulator_dtype(reduce: Reduce) -> str:
    """The dtype ``reduce`` accumulates in on the CPU: float64 (int64) for float (other)
    sums and products, else the dtype the values are computed in."""
    src = np.dtype(reduce.src_dtype)
    if reduce.combine in ("sum", "prod"):
        return "float64" if np.issubdtype(src, np.floating) else "int64"
    if src == np.bool_:
        return "bool_"
    return "float32" if src == np.float16 else src.name


def schedule_cpu(ir: KernelIR) -> CpuSchedule:
    """Decide how ``ir`` runs on the CPU."""
    loops, kept, reduced = ir.loop_axes, ir.kept_axes, ir.reduced_axes
    parallel = math.prod(ir.domain) >= PARALLEL_MIN_ELEMENTS
    reductions = [ir.values[r] for r in ir.reductions]
    accumulators = tuple((r, accumulator_dtype(ir.values[r])) for r in ir.reductions)
    if ARRAY_ACCUMULATORS and reductions and kept and reduced and loops[-1] in kept:
        return CpuSchedule("columns", parallel, column_blocks=parallel and loops[0] in reduced,
                           waves=_waves(ir), accumulators=accumulators)
    if kept or not reductions:
        row_points = math.prod(ir.domain[a] for a in reduced)
        lanes = frozenset(
            r for r, item in zip(ir.reductions, reductions)
            if ARRAY_ACCUMULATORS and len(reduced) >= 2 and row_points >= LANE_MIN_ROW
            and item.combine not in ("argmax", "argmin") and item.src_dtype != "bool")
        reuse = _reusable(ir)
        return CpuSchedule("rows", parallel, lanes=lanes, waves=_row_waves(ir, reuse),
                           accumulators=accumulators, reuse=reuse)
    fixed = frozenset(r for r, item in zip(ir.reductions, reductions)
                      if parallel and reduced and np.issubdtype(np.dtype(item.src_dtype),
                                                                np.floating))
    return CpuSchedule("whole", parallel, fixed_blocks=fixed, accumulators=accumulators)


def _waves(ir: KernelIR, alone: frozenset[int] = frozenset()) -> tuple[tuple[int, ...], ...]:
    """Reductions grouped into passes: one pass holds reductions that read none of each
    other (``x.sum(0)``, ``x.max(0)``), so their input is read once; those in ``alone``
    keep a pass of their own."""
    waves: list[list[int]] = []
    for r in ir.reductions:
        source = ir.values[r].input
        if waves and r not in alone and not alone.intersection(waves[-1]) and \
                not any(ir.depends_on(source, w) for w in waves[-1]):
            waves[-1].append(r)
        else:
            waves.append([r])
    return tuple(tuple(w) for w in waves)


def _row_waves(ir: KernelIR, reuse: tuple[int, int] | None) -> tuple[tuple[int, ...], ...]:
    """The passes of a rows kernel over each row (:func:`_waves`), or ``()`` when every
    reduction has its own. An argmax or argmin, and the last reduction when its loop
    keeps a value for the final loop (``reuse``), keep a pass of their own."""
    alone = {r for r in ir.reductions if ir.values[r].combine in ("argmax", "argmin")}
    if reuse is not None:
        alone.add(ir.reductions[-1])
    waves = _waves(ir, frozenset(alone))
    return waves if len(waves) < len(ir.reductions) else ()


def _reusable(ir: KernelIR) -> tuple[int, int] | None:
    """A value the last reduction's loop computes that the final loop needs again, with
    the store whose buffer can hold it meanwhile: the one output stored per point (same
    row, same elements, before the output is written). The first found walking down from
    the output is the largest shared expression."""
    if not ir.reductions:
        return None
    full = [(n, s) for n, s in enumerate(ir.stores) if not s.per_row]
    if len(full) != 1:
        return None
    position, store = full[0]

    def elementwise(root: int) -> list[int]:
        seen, order, stack = set(), [], [root]
        while stack:
            v = stack.pop()
            item = ir.values[v]
            if v in seen or not isinstance(item, Apply):
                continue
            seen.add(v)
            order.append(v)
            stack.extend(item.args)
        return order

    in_reduction = set(elementwise(ir.values[ir.reductions[-1]].input))
    out_dtype = ir.params[store.param].dtype
    shared = [v for v in elementwise(store.value) if v in in_reduction
              and ir.values[v].dtype == out_dtype and v != store.value]
    return (shared[0], position) if shared else None
