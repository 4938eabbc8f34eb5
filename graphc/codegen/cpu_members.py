"""Queries of the CPU renderer (``graphc.codegen.cpu._Renderer``) about a kernel's
members: which are row values, which read a reduction, when a row value can be stored,
and which value a reduction's loop can leave in an output buffer for the final loop."""

from __future__ import annotations

from ..ir import Node
from ..ops import get_op

REDUCE_OPS = frozenset({"sum", "prod", "max", "min", "argmax", "argmin"})


class MemberQueries:
    """Mixin of the CPU renderer: questions answered from ``self.kernel`` and
    ``self.members`` (no source is emitted here)."""

    def _row_level(self, order: list[Node]) -> set[int]:
        if not self.axes:
            return set()
        row_shapes = {self._shape(True), self._shape(False)}
        full = self.kernel.domain
        return {m.uid for m in order
                if m.op in REDUCE_OPS or (m.type.shape in row_shapes and m.type.shape != full)}

    def _shape(self, keepdims: bool) -> tuple[int, ...]:
        d = self.kernel.domain
        if keepdims:
            return tuple(1 if k in self.axes else n for k, n in enumerate(d))
        return tuple(n for k, n in enumerate(d) if k not in self.axes)

    def _reusable(self, r: Node, full_outputs: list[Node]) -> tuple[Node, Node] | None:
        """A value the last reduction's loop computes that the final loop needs again
        (softmax: ``exp(x - max)``), with the output whose buffer can hold it meanwhile:
        the reduction loop stores it there and the final loop reads it back instead of
        recomputing it (same row, same elements, before the output is written)."""
        if len(full_outputs) != 1:
            return None
        out = full_outputs[0]

        def elementwise_members(root: Node) -> list[Node]:
            seen, order, stack = set(), [], [root]
            while stack:
                n = stack.pop()
                if n.uid in seen or n.uid not in self.members or n.op in REDUCE_OPS:
                    continue
                if get_op(n.op).kind != "elementwise" or n.type.shape != self.kernel.domain:
                    continue
                seen.add(n.uid)
                order.append(n)
                stack.extend(n.inputs)
            return order

        in_reduction = {n.uid for n in elementwise_members(r.inputs[0])}
        shared = [n for n in elementwise_members(out) if n.uid in in_reduction
                  and n.type.dtype == out.type.dtype and n is not out]
        if not shared:
            return None
        # The first found walking down from the output is the largest shared expression.
        return shared[0], out

    def reads(self, node: Node, reduction: Node | None = None) -> bool:
        """Whether ``node`` reads ``reduction`` (any reduction of this kernel if None),
        directly or through other members."""
        stack, seen = [node], set()
        while stack:
            n = stack.pop()
            if n.uid in seen or n.uid not in self.members:
                continue
            seen.add(n.uid)
            if n.op in REDUCE_OPS and (reduction is None or n is reduction):
                return True
            stack.extend(n.inputs)
        return False

    def _ready(self, node: Node) -> bool:
        """Whether every reduction ``node`` depends on inside this kernel is computed."""
        stack = [node]
        seen = set()
        while stack:
            n = stack.pop()
            if n.uid in seen or n.uid not in self.members:
                continue
            seen.add(n.uid)
            if n.op in REDUCE_OPS and n.uid not in self.row_vars:
                return False
            if n.op not in REDUCE_OPS:
                stack.extend(n.inputs)
        return True
