"""Helpers for tests of index maps: call an op's index map on loop variables with sizes
as size parameters, and evaluate the returned :class:`~graphc.ir.kernel_ir.Ix` trees by
walking them (an interpretation independent of the text a renderer prints)."""

from __future__ import annotations

import operator

from graphc.ir.kernel_ir import Ix, size_param, var
from graphc.ops import get_op

_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul,
              "//": operator.floordiv, "%": operator.mod, ">=": operator.ge,
              "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
              "min": min, "max": max, "abs": abs}


def evaluate(tree: Ix, loop: dict[str, int], sizes: list[int]) -> int | bool:
    """The value of ``tree`` with loop variables from ``loop`` and size parameter ``k``
    equal to ``sizes[k]``."""
    assert isinstance(tree, Ix), f"an index expression must be an Ix tree, got {tree!r}"
    if tree.op == "var":
        return loop[tree.args[0]]
    if tree.op == "lit":
        return tree.args[0]
    if tree.op == "size":
        return sizes[tree.args[0]]
    if tree.op == "and":
        return all(evaluate(a, loop, sizes) for a in tree.args)
    return _OPERATORS[tree.op](*(evaluate(a, loop, sizes) for a in tree.args))


def map_index(node) -> tuple[tuple[Ix, ...], list[int]]:
    """``node``'s index map applied to the loop variables ``i0, i1, ...``: the input index
    trees it returns, and the sizes it asked for (size parameter ``k`` is ``sizes[k]``)."""
    sizes: list[int] = []

    def size(n: int) -> Ix:
        sizes.append(n)
        return size_param(len(sizes) - 1)

    out_index = tuple(var(f"i{k}") for k in range(node.type.ndim))
    in_index = get_op(node.op).index_map(node.inputs[0].type, node.type, node.attrs,
                                         out_index, size)
    return in_index, sizes
