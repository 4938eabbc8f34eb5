"""In-place legality on the CPU: may an output of a scheduled kernel overwrite an input?

An optimizer step computes every parameter's and state tensor's new value from its old
one, element by element (``w - lr * g``). When the caller says the old value is dead
(``Program.run``'s ``donate``), the kernel can write the new value into the old buffer:
the in-place variant is the same kernel printed with the output's parameter merged into
the input's (graphc/codegen/cpu.py, ``aliases``). One parameter for the array read and
written keeps the loop vectorised: passing one array as two parameters makes LLVM's
runtime alias check fail and take its scalar loop (2-3x slower).

The rule, on the scheduled IR: an output may overwrite an input only if every element is
written by the iteration that last reads it, after that read. On the CPU's row form of a
kernel without reductions, one iteration of the loop nest computes one point: its stores
run in order, each after the loads it needs that no earlier store of the iteration
loaded. So the pair is legal when the output is stored once, at the point's own index,
and every load of the input is at that same index and happens for that store or an
earlier one. Anything else (a reduction, a load at another element: a transpose, a
shifted slice, a pad; a load first needed by a later store) is refused.
"""

from __future__ import annotations

from ..ir.kernel_ir import KernelIR, Load
from .cpu_schedule import CpuSchedule


def first_loads(ir: KernelIR) -> dict[int, list[tuple[int, Load]]]:
    """Input parameter → ``(store position, load)`` for each of its loads, the position
    being the first store of an iteration that needs the load (when it runs)."""
    loaded: set[int] = set()
    found: dict[int, list[tuple[int, Load]]] = {}
    for position, store in enumerate(ir.stores):
        for v in ir.closure(store.value):
            if v in loaded:
                continue
            loaded.add(v)
            item = ir.values[v]
            if isinstance(item, Load):
                found.setdefault(item.param, []).append((position, item))
    return found


def may_overwrite(ir: KernelIR, schedule: CpuSchedule, source: int, output: int) -> bool:
    """Whether output parameter ``output`` may be written over input ``source``."""
    p_in, p_out = ir.params[source], ir.params[output]
    if schedule.form != "rows" or ir.reductions:
        return False
    if p_in.kind != "in" or p_out.kind != "out" or not p_out.ndim:
        return False
    if p_in.node is not None and p_in.node.type != p_out.node.type:
        return False
    if (p_in.dtype, p_in.ndim) != (p_out.dtype, p_out.ndim):
        return False
    stores = [(n, s) for n, s in enumerate(ir.stores) if s.param == output]
    if len(stores) != 1 or stores[0][1].per_row:
        return False
    at, store = stores[0]
    return all(position <= at and load.index == store.index
               for position, load in first_loads(ir).get(source, []))


def in_place_pairs(ir: KernelIR, schedule: CpuSchedule,
                   candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``(input param, output param)`` pairs of ``candidates`` that are legal."""
    return [(i, o) for i, o in candidates if may_overwrite(ir, schedule, i, o)]
