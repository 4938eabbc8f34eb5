"""CPU code generation for whole-domain reductions (every axis reduced: ``x.sum()``).

The first reduced axis runs under ``prange`` as a numba reduction (``+=``, ``*=``,
``max``, ``min``); NaN is tracked by a count so it still propagates, booleans become
counts of true (false) values, and argmax/argmin run a second pass for the first
position holding the extreme (or the first NaN).
"""

from __future__ import annotations

import numpy as np

from ..ir import Node


class WholeReductions:
    """Mixin of the CPU renderer (``graphc.codegen.cpu._Renderer``) for reductions over
    the whole domain."""

    def parallel_reduction(self, r: Node, reduced: list[int]) -> None:
        """A whole-domain reduction as numba prange reductions over the first axis."""
        if not reduced:
            v = self.value(r.inputs[0], self.full_index)
            self.finish_row(r, "0" if r.op in ("argmax", "argmin") else v)
            return
        src = r.inputs[0].type.dtype
        is_float = np.issubdtype(src, np.floating)
        acc_dtype, init, _ = self.reduction_parts(r)
        acc = self.fresh("acc")
        if r.op in ("sum", "prod"):
            self.emit(f"{acc} = {init}")
            op = "+=" if r.op == "sum" else "*="
            self.reduce_loops(reduced, lambda: self.emit(
                f"{acc} {op} {self.value(r.inputs[0], self.full_index)}"), parallel=True)
            self.finish_row(r, acc)
            return
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
        # argmax / argmin: the first position holding the extreme (or the first NaN).
        axis = r.attrs["axes"][0]
        first = self.fresh("first")
        self.emit(f"{first} = {self.dim(axis)}")

        def find() -> None:
            v = self.value(r.inputs[0], self.full_index)
            if src == np.bool_:
                hit = f"{v} == ({count} > 0)" if r.op == "argmax" else f"{v} == ({count} == 0)"
            elif is_float:
                hit = f"(({v} != {v}) if {nan} > 0 else ({v} == {best}))"
            else:
                hit = f"{v} == {best}"
            self.emit(f"{first} = min({first}, {self.full_index[axis]} if {hit} else "
                      f"{self.dim(axis)})")

        self.reduce_loops(reduced, find, parallel=True)
        self.finish_row(r, first)
