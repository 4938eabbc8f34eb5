"""The CPU renderer's whole form (schedule form ``whole``: every axis reduced, ``x.sum()``).

A float sum, product, max or min of a large kernel (the schedule's ``fixed_blocks``) runs
in blocks of a fixed order: the
first reduced axis is cut into ``nb`` blocks, a number computed from the sizes alone;
each block's partial is computed by one serial loop (which LLVM may vectorise under
``reassoc``: the compiled loop then fixes the order), the blocks run under ``prange``,
and the partials are combined in block order::

    nb = max(1, min(64, sh[0], sh[0] // 32768))
    part1 = np.empty((nb,), float64)
    for part in prange(nb):
        lo = part * sh[0] // nb
        acc1 = float64(0)
        for j in range((part + 1) * sh[0] // nb - lo):
            i0 = lo + j
            u0 = np.uint64(i0)              # 1-D: unsigned, so loads need no wraparound
            v2 = in0[u0]
            acc1 = acc1 + v2
        part1[part] = acc1
    acc1 = float64(0)
    for part in range(nb):
        acc1 = acc1 + part1[part]

So the result is the same bits on every call and for every number of threads: no
thread's share of the work enters it, unlike numba's ``prange`` reduction (``acc +=``
under ``prange``), whose per-thread partials follow how the loop was split. Small
kernels (serial: ``PARALLEL_MIN_ELEMENTS`` in cpu.py) keep one accumulator over the
domain; integer and boolean reductions, exact in any order, stay ``prange`` reductions
(``+=``, ``*=``, ``min``). NaN is tracked by a count so it still propagates, booleans
become counts of true (false) values, and argmax/argmin run a second pass for the first
position holding the extreme (or the first NaN).

The unsigned index of a one-axis domain matters: numba wraps negative signed indices,
``lo + j`` may be negative as far as LLVM knows, and the select it adds kept the loop
scalar (a 4M float32 sum, one thread: 3.5 ms against 0.7 ms).
"""

from __future__ import annotations

# At most BLOCKS blocks, each of at least BLOCK_POINTS points where the axis allows: 64
# blocks balance up to 64 threads (or 16 threads at 4 blocks each) and cost 64 partials.
BLOCKS = 64
BLOCK_POINTS = 1 << 15


class WholePrinter:
    """Mixin of the CPU printer (``graphc.codegen.cpu._Printer``) for reductions over the
    whole domain."""

    def whole(self) -> None:
        """Each reduction over the whole domain, then the values stored per point."""
        ir = self.ir
        reduced = ir.reduced_axes
        for r in ir.reductions:
            self.whole_reduction(r, reduced)
            self.row_epilogue(r)
        full = [n for n, s in enumerate(ir.stores) if not s.per_row]
        if full:
            self.reduce_loops(reduced, lambda: [self.store(n) for n in full], parallel=True)

    def whole_reduction(self, r: int, reduced: list[int]) -> None:
        """A whole-domain reduction: fixed blocks for floats in a parallel kernel, else
        numba ``prange`` reductions over the first axis (see the module doc)."""
        item, acc_dtype, init, _ = self.reduction_parts(r)
        op = item.combine
        if not reduced:
            v = self.value(item.input)
            self.finish_row(r, "0" if op in ("argmax", "argmin") else v)
            return
        is_float = item.src_dtype.startswith("float")
        acc = self.fresh("acc")
        if r in self.schedule.fixed_blocks:
            best = self.blocked(item, reduced, acc, acc_dtype, init)
            if op in ("sum", "prod", "max", "min"):
                self.finish_row(r, best)
                return
            self.first_position(r, reduced, best, "")
            return
        if op in ("sum", "prod"):
            self.emit(f"{acc} = {init}")
            update = "+=" if op == "sum" else "*="
            self.reduce_loops(reduced, lambda: self.emit(
                f"{acc} {update} {self.value(item.input)}"), parallel=True)
            self.finish_row(r, acc)
            return
        count = ""
        if item.src_dtype == "bool":  # any / all as a count of true (false) values
            count = self.fresh("count")
            self.emit(f"{count} = 0")
            negate = "" if op in ("max", "argmax") else "not "
            self.reduce_loops(reduced, lambda: self.emit(
                f"{count} += 1 if {negate}{self.value(item.input)} else 0"), parallel=True)
            if op in ("max", "min"):
                self.finish_row(r, f"{count} > 0" if op == "max" else f"{count} == 0")
                return
            best = ""
        else:
            pick = "max" if op in ("max", "argmax") else "min"
            nan = self.fresh("nans")
            self.emit(f"{acc} = {init}")
            self.emit(f"{nan} = 0")

            def body() -> None:
                v = self.value(item.input)
                self.emit(f"{acc} = {pick}({acc}, {v})")
                if is_float:
                    self.emit(f"{nan} += 1 if {v} != {v} else 0")

            self.reduce_loops(reduced, body, parallel=True)
            best = self.fresh("m")
            self.emit(f"{best} = {acc_dtype}(np.nan) if {nan} > 0 else {acc}" if is_float
                      else f"{best} = {acc}")
            if op in ("max", "min"):
                self.finish_row(r, best)
                return
        self.first_position(r, reduced, best, count)

    def first_position(self, r: int, reduced: list[int], best: str, count: str) -> None:
        """argmax / argmin: the first position holding the extreme ``best`` (or the first
        NaN; for booleans, from the ``count`` of true or false values). An integer min
        over positions: exact in any order, so a numba ``prange`` reduction."""
        item = self.ir.values[r]
        axis = item.position_axis
        first = self.fresh("first")
        self.emit(f"{first} = {self.dim(axis)}")

        def find() -> None:
            v = self.value(item.input)
            if item.src_dtype == "bool":
                hit = (f"{v} == ({count} > 0)" if item.combine == "argmax"
                       else f"{v} == ({count} == 0)")
            elif item.src_dtype.startswith("float"):
                hit = f"(({v} != {v}) if {best} != {best} else ({v} == {best}))"
            else:
                hit = f"{v} == {best}"
            self.emit(f"{first} = min({first}, {self.full_index[axis]} if {hit} else "
                      f"{self.dim(axis)})")

        self.reduce_loops(reduced, find, parallel=True)
        self.finish_row(r, first)

    def blocked(self, item, reduced: list[int], acc: str, acc_dtype: str, init: str) -> str:
        """Print a float reduction in fixed blocks (module doc); returns the variable
        holding its value (NaN where a max/min saw one)."""
        lead, n = reduced[0], self.dim(reduced[0])
        if not getattr(self, "whole_blocks", False):
            points = " * ".join(self.dim(a) for a in reduced)
            self.emit(f"nb = max(1, min({BLOCKS}, {n}, ({points}) // {BLOCK_POINTS}))")
            self.whole_blocks = True
        sums = item.combine in ("sum", "prod")
        pick = "max" if item.combine in ("max", "argmax") else "min"
        partial = self.fresh("part")
        self.emit(f"{partial} = np.empty((nb,), {acc_dtype})")
        nan = "" if sums else self.fresh("nans")
        if nan:
            self.emit(f"{nan}p = np.empty((nb,), int64)")
        self.emit(f"for part in {self.loop(True)}(nb):")
        self.push()
        self.emit(f"lo = part * {n} // nb")
        self.emit(f"{acc} = {init}")
        if nan:
            self.emit(f"{nan} = 0")
        self.emit(f"for j in range((part + 1) * {n} // nb - lo):")
        self.push()
        self.emit(f"i{lead} = lo + j")
        if len(reduced) == 1:
            self.emit(f"u{lead} = np.uint64(i{lead})")
            self.unsigned[f"i{lead}"] = f"u{lead}"
        operator = "+" if item.combine == "sum" else "*"

        def body() -> None:
            v = self.value(item.input)
            if sums:
                self.emit(f"{acc} = {acc} {operator} {v}")
            else:
                self.emit(f"{acc} = {pick}({acc}, {v})")
                self.emit(f"{nan} += 1 if {v} != {v} else 0")

        self.reduce_loops(reduced[1:], body)
        self.unsigned.pop(f"i{lead}", None)
        self.pop()
        self.emit(f"{partial}[part] = {acc}")
        if nan:
            self.emit(f"{nan}p[part] = {nan}")
        self.pop()
        self.emit(f"{acc} = {init}")  # the partials, in block order
        if nan:
            self.emit(f"{nan} = 0")
        self.emit("for part in range(nb):")
        if sums:
            self.emit(f"    {acc} = {acc} {operator} {partial}[part]")
            return acc
        self.emit(f"    {acc} = {pick}({acc}, {partial}[part])")
        self.emit(f"    {nan} += {nan}p[part]")
        best = self.fresh("m")
        self.emit(f"{best} = {acc_dtype}(np.nan) if {nan} > 0 else {acc}")
        return best
