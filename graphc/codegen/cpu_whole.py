"""CPU code generation for whole-domain reductions (every axis reduced: ``x.sum()``).

A float sum, product, max or min of a large kernel runs in blocks of a fixed order: the
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

import numpy as np

from ..ir import Node

# At most BLOCKS blocks, each of at least BLOCK_POINTS points where the axis allows: 64
# blocks balance up to 64 threads (or 16 threads at 4 blocks each) and cost 64 partials.
BLOCKS = 64
BLOCK_POINTS = 1 << 15


class WholeReductions:
    """Mixin of the CPU renderer (``graphc.codegen.cpu._Renderer``) for reductions over
    the whole domain."""

    def parallel_reduction(self, r: Node, reduced: list[int]) -> None:
        """A whole-domain reduction: fixed blocks for floats in a parallel kernel, else
        numba ``prange`` reductions over the first axis (see the module doc)."""
        if not reduced:
            v = self.value(r.inputs[0], self.full_index)
            self.finish_row(r, "0" if r.op in ("argmax", "argmin") else v)
            return
        src = r.inputs[0].type.dtype
        is_float = np.issubdtype(src, np.floating)
        acc_dtype, init, _ = self.reduction_parts(r)
        acc = self.fresh("acc")
        if is_float and self.parallel:
            best = self.blocked(r, reduced, acc, acc_dtype, init)
            if r.op in ("sum", "prod", "max", "min"):
                self.finish_row(r, best)
                return
            self.first_position(r, reduced, best, "")
            return
        if r.op in ("sum", "prod"):
            self.emit(f"{acc} = {init}")
            op = "+=" if r.op == "sum" else "*="
            self.reduce_loops(reduced, lambda: self.emit(
                f"{acc} {op} {self.value(r.inputs[0], self.full_index)}"), parallel=True)
            self.finish_row(r, acc)
            return
        count = ""
        if src == np.bool_:  # any / all as a count of true (false) values
            count = self.fresh("count")
            self.emit(f"{count} = 0")
            negate = "" if r.op in ("max", "argmax") else "not "
            self.reduce_loops(reduced, lambda: self.emit(
                f"{count} += 1 if {negate}{self.value(r.inputs[0], self.full_index)} else 0"),
                parallel=True)
            if r.op in ("max", "min"):
                self.finish_row(r, f"{count} > 0" if r.op == "max" else f"{count} == 0")
                return
            best = ""
        else:
            pick = "max" if r.op in ("max", "argmax") else "min"
            nan = self.fresh("nans")
            self.emit(f"{acc} = {init}")
            self.emit(f"{nan} = 0")

            def body() -> None:
                v = self.value(r.inputs[0], self.full_index)
                self.emit(f"{acc} = {pick}({acc}, {v})")
                if is_float:
                    self.emit(f"{nan} += 1 if {v} != {v} else 0")

            self.reduce_loops(reduced, body, parallel=True)
            best = self.fresh("m")
            self.emit(f"{best} = {acc_dtype}(np.nan) if {nan} > 0 else {acc}" if is_float
                      else f"{best} = {acc}")
            if r.op in ("max", "min"):
                self.finish_row(r, best)
                return
        self.first_position(r, reduced, best, count)

    def first_position(self, r: Node, reduced: list[int], best: str, count: str) -> None:
        """argmax / argmin: the first position holding the extreme ``best`` (or the first
        NaN; for booleans, from the ``count`` of true or false values). An integer min
        over positions: exact in any order, so a numba ``prange`` reduction."""
        src = r.inputs[0].type.dtype
        axis = r.attrs["axes"][0]
        first = self.fresh("first")
        self.emit(f"{first} = {self.dim(axis)}")

        def find() -> None:
            v = self.value(r.inputs[0], self.full_index)
            if src == np.bool_:
                hit = f"{v} == ({count} > 0)" if r.op == "argmax" else f"{v} == ({count} == 0)"
            elif np.issubdtype(src, np.floating):
                hit = f"(({v} != {v}) if {best} != {best} else ({v} == {best}))"
            else:
                hit = f"{v} == {best}"
            self.emit(f"{first} = min({first}, {self.full_index[axis]} if {hit} else "
                      f"{self.dim(axis)})")

        self.reduce_loops(reduced, find, parallel=True)
        self.finish_row(r, first)

    def blocked(self, r: Node, reduced: list[int], acc: str, acc_dtype: str,
                init: str) -> str:
        """Emit a float reduction in fixed blocks (module doc); returns the variable
        holding its value (NaN where a max/min saw one)."""
        lead, n = reduced[0], self.dim(reduced[0])
        if not getattr(self, "whole_blocks", False):
            points = " * ".join(self.dim(a) for a in reduced)
            self.emit(f"nb = max(1, min({BLOCKS}, {n}, ({points}) // {BLOCK_POINTS}))")
            self.whole_blocks = True
        sums = r.op in ("sum", "prod")
        pick = "max" if r.op in ("max", "argmax") else "min"
        partial = self.fresh("part")
        self.emit(f"{partial} = np.empty((nb,), {acc_dtype})")
        nan = "" if sums else self.fresh("nans")
        if nan:
            self.emit(f"{nan}p = np.empty((nb,), int64)")
        self.emit("for part in prange(nb):")
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

        def body() -> None:
            v = self.value(r.inputs[0], self.full_index)
            if sums:
                self.emit(f"{acc} = {acc} {'+' if r.op == 'sum' else '*'} {v}")
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
            self.emit(f"    {acc} = {acc} {'+' if r.op == 'sum' else '*'} {partial}[part]")
            return acc
        self.emit(f"    {acc} = {pick}({acc}, {partial}[part])")
        self.emit(f"    {nan} += {nan}p[part]")
        best = self.fresh("m")
        self.emit(f"{best} = {acc_dtype}(np.nan) if {nan} > 0 else {acc}")
        return best
