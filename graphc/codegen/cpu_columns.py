"""The CPU renderer's columns form (schedule form ``columns``): reduce over leading
axes, keep the last one.

A kernel such as the bias gradient ``sum(g * relu_mask, axis=0)`` of an (N, C)
activation keeps the last, contiguous axis. Rendered as rows (kept axis outer, reduced
axis inner) its inner loop would stride through memory by a whole row. Here the loop
nest runs in the domain's own order, so the innermost loop walks the contiguous last
axis, and each reduction accumulates into an array with one accumulator per kept
position (same accumulation types and NaN rules as the row form)::

    acc1 = np.full((sh[1],), float64(0), float64)
    for i0 in range(sh[0]):
        for i1 in range(sh[1]):
            ...
            acc1[i1] = acc1[i1] + v6        # contiguous, vectorised
    for i1 in range(sh[1]):
        r7 = float32(acc1[i1])              # the row epilogue, per kept position
        out5[i1] = in3[i1] - r7 * s4

Large kernels run in parallel: over the first axis under ``prange`` when it is kept
(each thread owns its accumulators); when it is reduced, over up to ``CHUNKS`` blocks
of it (the schedule's ``column_blocks``), each block with its own row of partial
accumulators, which the epilogue combines in
block order (so argmax/argmin still return the first extreme position). Elementwise
outputs that do not read a reduction are written in the first pass; those that do
(a normalisation over axis 0) get a final pass over the domain.
"""

from __future__ import annotations

from ..ir.kernel_ir import Reduce
from .cpu_ops import arg_condition

# Blocks of a reduced leading axis, each with its own row of partial accumulators: at
# most CHUNKS, and at most PARTIALS accumulators in all, so the partials stay in cache.
# Measured on 2 cores (float32 sums over axis 0): (128, 4096) 0.10 ms serial, 0.09 with
# 4 blocks, 0.21 with 16; (64, 32768) 0.54 / 0.45 (2 blocks) / 1.56 (16); (8, 2^20)
# 5.8 ms with 1 block, 77 ms with 8 (64 MB of partials to fault in).
CHUNKS = 8
PARTIALS = 1 << 16


class ColumnPrinter:
    """Mixin of the CPU printer (``graphc.codegen.cpu._Printer``) for column kernels."""

    def columns(self) -> None:
        """Print the passes of a kernel whose last loop axis is kept (see module doc)."""
        ir, schedule = self.ir, self.schedule
        loops, kept = ir.loop_axes, ir.kept_axes
        parallel = schedule.parallel
        self.col_kept = tuple(f"i{a}" for a in kept)
        self.col_shape = tuple(self.dim(a) for a in kept)
        self.col_chunks = None
        if schedule.column_blocks:
            self.col_chunks = "nc"
            kept_size = " * ".join(self.col_shape)
            self.emit(f"nc = max(1, min({CHUNKS}, {self.dim(loops[0])}, "
                      f"{PARTIALS} // max(1, {kept_size})))")
        full = [n for n, s in enumerate(ir.stores) if not s.per_row]
        independent = [n for n in full if not ir.depends_on(ir.stores[n].value)]
        dependent = [n for n in full if ir.depends_on(ir.stores[n].value)]
        waves = schedule.waves
        for n, wave in enumerate(waves):
            later = n < len(waves) - 1 or bool(dependent)
            self.column_pass(wave, loops, parallel, independent if n == 0 else [], later)
        if dependent:
            self.domain_loops(loops, lambda: [self.store(n) for n in dependent], parallel,
                              chunked=False)

    # ---- loops --------------------------------------------------------------------
    def domain_loops(self, loops: list[int], body, parallel: bool, chunked: bool) -> None:
        """The loop nest over the domain in memory order; ``chunked``: the first axis runs
        in ``nc`` blocks under ``prange`` (block index ``part``)."""
        opened = 0
        rest = loops
        if chunked:
            first, rest = loops[0], loops[1:]
            n = self.dim(first)
            self.emit(f"for part in {self.loop(True)}(nc):")
            self.push()
            self.emit(f"lo = part * {n} // nc")
            self.emit(f"for j in range((part + 1) * {n} // nc - lo):")
            self.push()
            self.emit(f"i{first} = lo + j")
            opened = 2
        for n, axis in enumerate(rest):
            loop = self.loop(parallel and not chunked and n == 0)
            self.emit(f"for i{axis} in {loop}({self.dim(axis)}):")
            self.push()
            opened += 1
        body()
        for _ in range(opened):
            self.pop()

    def kept_loops(self, body, parallel: bool) -> None:
        """The loop nest over the kept axes (the epilogue)."""
        for n, (index, size) in enumerate(zip(self.col_kept, self.col_shape)):
            self.emit(f"for {index} in {self.loop(parallel and n == 0)}({size}):")
            self.push()
        body()
        for _ in self.col_kept:
            self.pop()

    # ---- reductions -----------------------------------------------------------------
    def column_pass(self, wave: tuple[int, ...], loops: list[int], parallel: bool,
                    stores: list[int], later: bool) -> None:
        """Accumulate the reductions of ``wave`` in one pass over the domain, then finish
        them per kept position and run the row epilogue; ``later``: keep their values in
        arrays for later passes."""
        lead = (self.col_chunks,) if self.col_chunks else ()
        shape = "(" + ", ".join(lead + self.col_shape) + ",)"
        at = self.subscript(("part",) * bool(self.col_chunks) + self.col_kept)
        accs = [_Accumulator(self, r, shape) for r in wave]

        def body() -> None:
            for a in accs:
                a.combine(self.value(a.item.input), at)
            for n in stores:
                self.store(n)

        self.domain_loops(loops, body, parallel, chunked=bool(self.col_chunks))
        rows = {}
        if later:
            for r in wave:
                rows[r] = self.fresh("row")
                self.emit(f"{rows[r]} = np.empty(({', '.join(self.col_shape)},), "
                          f"{_dtype_name(self.ir.values[r])})")

        def finish() -> None:
            for a in accs:
                a.finish(at)
                if later:
                    self.emit(f"{rows[a.r]}{self.subscript(self.col_kept)} = "
                              f"{self.row_vars[a.r]}")
            for r in wave:
                self.row_epilogue(r)

        self.kept_loops(finish, parallel)
        for r, row in rows.items():  # later passes read the values back per position
            self.row_vars[r] = row + self.subscript(self.col_kept)


class _Accumulator:
    """The accumulator arrays of one reduction and the statements that update, combine
    and finish them (the row form's accumulation types and NaN rules)."""

    def __init__(self, g, r: int, shape: str) -> None:
        self.g, self.r = g, r
        self.item, self.dtype, init, self.rule = g.reduction_parts(r)
        self.is_arg = self.item.combine in ("argmax", "argmin")
        self.track_nans = (self.item.combine in ("max", "min")
                           and self.item.src_dtype.startswith("float"))
        self.acc = g.fresh("acc")
        g.emit(f"{self.acc} = np.full({shape}, {init}, {self.dtype})")
        self.nans = g.fresh("nans") if self.track_nans else ""
        if self.track_nans:
            g.emit(f"{self.nans} = np.zeros({shape}, int64)")
        self.best = g.fresh("arg") if self.is_arg else ""
        if self.is_arg:
            g.emit(f"{self.best} = np.zeros({shape}, int64)")

    def update(self, acc: str, v: str, nans: str, best: str) -> None:
        """Fold value ``v`` (at position ``best``) into ``acc`` (and its NaN count)."""
        g = self.g
        if self.is_arg:
            g.emit(f"if {arg_condition(self.rule, v, acc)}:")
            g.emit(f"    {acc} = {v}")
            g.emit(f"    {self.best_target} = {best}")
        elif self.track_nans:  # max()/min() vectorise; the count keeps NaN propagation
            g.emit(f"{acc} = {self.item.combine}({acc}, {v})")
            g.emit(f"{self.nans_target} += {nans}")
        else:
            g.emit(self.rule.format(acc=acc, v=v))

    def combine(self, v: str, at: str) -> None:
        """The domain loop's statement: fold the element ``v`` in at ``at``."""
        self.best_target, self.nans_target = self.best + at, self.nans + at
        position = self.g.full_index[self.item.position_axis] if self.is_arg else ""
        self.update(self.acc + at, v, f"1 if {v} != {v} else 0", position)

    def finish(self, at: str) -> None:
        """The epilogue's statements: combine the blocks' partials in block order, apply
        the NaN rule, and make the reduction's value a row value."""
        g = self.g
        chunked = bool(g.col_chunks)
        first = g.subscript(("0",) * chunked + g.col_kept)
        a = g.fresh("a")
        g.emit(f"{a} = {self.acc}{first}")
        n = g.fresh("n") if self.track_nans else ""
        if n:
            g.emit(f"{n} = {self.nans}{first}")
        b = g.fresh("b") if self.is_arg else ""
        if b:
            g.emit(f"{b} = {self.best}{first}")
        if chunked:
            g.emit("for part in range(1, nc):")
            g.push()
            p = g.fresh("p")
            g.emit(f"{p} = {self.acc}{at}")
            self.best_target, self.nans_target = b, n
            self.update(a, p, self.nans + at, self.best + at)
            g.pop()
        if n:
            g.emit(f"{a} = {self.dtype}(np.nan) if {n} > 0 else {a}")
        g.finish_row(self.r, b if b else a)


def _dtype_name(r: Reduce) -> str:
    """The NumPy name of the dtype ``r``'s values are computed in (float16 → float32)."""
    name = "float32" if r.dtype == "float16" else r.dtype
    return "bool_" if name == "bool" else name
