"""The CPU renderer's table: each named scalar op of the kernel IR as numba source.

A scalar op's meaning is its op's NumPy reference (graphc/ops/elementwise.py); this
table only says how a numba kernel writes it. Helper names (``exp``, ``erf``,
``floor_div``, ...) are graphc's own scalar library (graphc/codegen/mathlib.py), whose
float32 functions are branch-free so loops calling them vectorise; where it has a direct
implementation for the operands' dtype (``exp_f32``), the renderer calls that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..ir.kernel_ir import Reduce
from ..ops.attrs import literal as number_literal
from .python_ops import PYTHON_OPS, compute_dtype, extreme_select

SCALAR_OPS: dict[str, str] = {
    **PYTHON_OPS,
    "exp": "exp({0})",
    "log": "log({0})",
    "log1p": "log1p({0})",
    "expm1": "expm1({0})",
    "sqrt": "sqrt({0})",
    "sin": "sin({0})",
    "cos": "cos({0})",
    "tan": "tan({0})",
    "tanh": "tanh({0})",
    "erf": "erf({0})",
    "sigmoid": "sigmoid({0})",
    "relu": "relu({0})",
    "floor": "floor({0})",
    "ceil": "ceil({0})",
    "round": "rint({0})",
    "sign": "sign({0})",
    "mul": "({0} * {1})",
    "floor_div": "floor_div({0}, {1})",
    "mod": "mod({0}, {1})",
    "pow": "power({0}, {1})",
    "isnan": "isnan({0})",
    "isinf": "isinf({0})",
}


@functools.cache
def _specialize() -> Callable[[str, str], str]:
    from .mathlib import specialize  # imports numba: only when a kernel is rendered

    return specialize


def scalar_op_text(op: str, args: list[str], operand_dtype: str, attrs: tuple) -> str:
    """Named scalar op ``op`` applied to the expressions ``args`` (operands of
    ``operand_dtype``; ``attrs``: the IR's ``(name, value)`` pairs)."""
    try:
        template = SCALAR_OPS[op]
    except KeyError:
        raise NotImplementedError(f"the CPU renderer has no text for scalar op {op!r}") from None
    if args:
        template = _specialize()(template, compute_dtype(operand_dtype))
    named = {k: compute_dtype(v) if k == "dtype" else number_literal(v) for k, v in attrs}
    return template.format(*args, **named)


# Reductions: the statement folding value {v} into accumulator {acc}.
_COMBINE = {"sum": "{acc} = {acc} + {v}", "prod": "{acc} = {acc} * {v}"}


def combine_rule(reduce: Reduce, acc_dtype: str) -> str:
    """The statement that folds ``{v}`` into ``{acc}`` for ``reduce`` (max/min pick the
    first operand on ties and propagate NaN; bool max/min are or/and)."""
    if reduce.combine in _COMBINE:
        return _COMBINE[reduce.combine]
    if acc_dtype == "bool_":
        return "{acc} = {acc} or {v}" if reduce.combine == "max" else "{acc} = {acc} and {v}"
    return "{acc} = " + extreme_select(reduce.combine, reduce.src_dtype, "{acc}", "{v}")


def arg_condition(rule: str, v: str, acc: str) -> str:
    """When value ``v`` replaces ``acc`` in an argmax/argmin (from its combine rule)."""
    return rule.split(" if ", 1)[1].split(" else ")[0].format(v=v, acc=acc)
