"""In-place legality on the kernel IR, for any schedule that computes one point per
iteration (the CPU's row form, CUDA's threads form without reductions): may an output
overwrite an input?

An optimizer step computes every parameter's and state tensor's new value from its old
one, element by element (``w - lr * g``). When the caller says the old value is dead
(``Program.run``'s ``donate``), the kernel can write the new value into the old buffer.
The rule: an output may overwrite an input only if every element is written by the
iteration that last reads it, after that read. An iteration computes one point: its
stores run in order, each after the loads it needs that no earlier store of the
iteration loaded. So the pair is legal when the output is stored once, at the point's own
index, and every load of the input is at that same index and happens for that store or
an earlier one. Anything else (a load at another element: a transpose, a shifted slice,
a pad; a load first needed by a later store) is refused. Each backend adds its schedule's
condition (graphc/codegen/cpu_in_place.py, graphc/codegen/cuda.py).
"""

from __future__ import annotations

from ..ir.kernel_ir import KernelIR, Load


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


def point_may_overwrite(ir: KernelIR, source: int, output: int) -> bool:
    """Whether output parameter ``output`` may be written over input ``source`` when one
    iteration computes one point of the domain (the caller checks its schedule does)."""
    p_in, p_out = ir.params[source], ir.params[output]
    if ir.reductions:
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
