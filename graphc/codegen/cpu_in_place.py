"""In-place legality on the CPU: may an output of a scheduled kernel overwrite an input?

An optimizer step computes every parameter's and state tensor's new value from its old
one, element by element (``w - lr * g``). When the caller says the old value is dead
(``Program.run``'s ``donate``), the kernel can write the new value into the old buffer:
the in-place variant is the same kernel printed with the output's parameter merged into
the input's (graphc/codegen/cpu.py, ``aliases``). One parameter for the array read and
written keeps the loop vectorised: passing one array as two parameters makes LLVM's
runtime alias check fail and take its scalar loop (2-3x slower).

The rule is the kernel IR's (graphc/codegen/in_place.py); on the CPU it holds for the
row form, where one iteration of the loop nest computes one point.
"""

from __future__ import annotations

from ..ir.kernel_ir import KernelIR
from .cpu_schedule import CpuSchedule
from .in_place import first_loads, point_may_overwrite

__all__ = ["first_loads", "in_place_pairs", "may_overwrite"]


def may_overwrite(ir: KernelIR, schedule: CpuSchedule, source: int, output: int) -> bool:
    """Whether output parameter ``output`` may be written over input ``source``."""
    return schedule.form == "rows" and point_may_overwrite(ir, source, output)


def in_place_pairs(ir: KernelIR, schedule: CpuSchedule,
                   candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``(input param, output param)`` pairs of ``candidates`` that are legal."""
    return [(i, o) for i, o in candidates if may_overwrite(ir, schedule, i, o)]
