"""The CUDA renderer's table: each named scalar op of the kernel IR as numba.cuda source.

The CPU's table (graphc/codegen/cpu_ops.py) calls graphc's CPU math library, whose
helpers are numba ``overload``s a CUDA kernel cannot call. This table writes the same
ops for ``@cuda.jit`` kernels: transcendental functions as ``math.*`` (libdevice on the
GPU), the rest as operators or as the device functions of
graphc/codegen/cuda_mathlib.py. Those helpers take typed constants as arguments
(numba widens ``float32 * 1`` to float64), so templates may name ``{zero}``, ``{one}``
and ``{half}``: typed literals of the operands' compute dtype.

Integer and bool operands of the float functions are computed in float64, as on the
CPU. float16 is a storage type: kernels compute it in float32 (:func:`compute_dtype`).
A scalar op this table lacks is a ``NotImplementedError`` naming it, at render time.
"""

from __future__ import annotations

import numpy as np

from ..ir.kernel_ir import Reduce
from ..ops.attrs import literal as number_literal
from .python_ops import PYTHON_OPS, compute_dtype, extreme_select, literal

# Ops whose text is the same for every operand dtype: Python's (python_ops.py).
_COMMON = PYTHON_OPS

# math.* (libdevice) functions of one float operand.
_MATH = ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "erf")

# Ops whose text depends on the operands' kind: (float, signed int, unsigned int/bool).
_BY_KIND: dict[str, tuple[str, str, str]] = {
    "sigmoid": ("sigmoid({0}, {one})", "", ""),
    "relu": ("relu({0}, {zero})", "relu({0}, {zero})", "{0}"),
    "floor": ("floor_f({0}, {one})", "{0}", "{0}"),
    "ceil": ("ceil_f({0}, {one})", "{0}", "{0}"),
    "round": ("rint_f({0}, {one}, {half})", "{0}", "{0}"),
    "sign": ("sign({0}, {zero}, {one})", "sign({0}, {zero}, {one})",
             "({one} if {0} > {zero} else {zero})"),
    "floor_div": ("floor_div_f({0}, {1}, {zero}, {one}, {half})",
                  "floor_div_i({0}, {1}, {zero})", "floor_div_u({0}, {1}, {zero})"),
    "mod": ("mod_f({0}, {1}, {zero}, {one}, {half})", "mod_i({0}, {1}, {zero})",
            "mod_u({0}, {1}, {zero})"),
    # float products never contract into an FMA (cuda_mathlib.mul_f32)
    "mul": ("mul_{dtype_name}({0}, {1})", "({0} * {1})", "({0} * {1})"),
    "pow": ("({0} ** {1})", "power_i({0}, {1}, {zero}, {one})",
            "power_u({0}, {1}, {zero}, {one})"),
    "isnan": ("math.isnan({0})", "False", "False"),
    "isinf": ("math.isinf({0})", "False", "False"),
}

# Every scalar op the table covers (tests compare it with the CPU's).
SCALAR_OPS: frozenset[str] = frozenset(_COMMON) | frozenset(_MATH) | frozenset(_BY_KIND)


def _kind(dtype: str) -> int:
    kind = np.dtype(dtype).kind
    return 0 if kind == "f" else 1 if kind == "i" else 2


def scalar_op_text(op: str, args: list[str], operand_dtype: str, attrs: tuple) -> str:
    """Named scalar op ``op`` applied to the expressions ``args`` (operands of
    ``operand_dtype``; ``attrs``: the IR's ``(name, value)`` pairs)."""
    dtype = compute_dtype(operand_dtype) if operand_dtype else "float64"
    if op in _COMMON:
        template = _COMMON[op]
    elif op in _MATH:
        template = f"math.{op}({{0}})" if _kind(dtype) == 0 else f"math.{op}(float64({{0}}))"
    elif op in _BY_KIND:
        template = _BY_KIND[op][_kind(dtype)]
        if op == "sigmoid" and _kind(dtype) != 0:
            template, dtype = "sigmoid(float64({0}), {one})", "float64"
    else:
        raise NotImplementedError(f"the CUDA renderer has no text for scalar op {op!r}")
    constants = {}
    if "{zero}" in template or "{one}" in template or "{half}" in template:
        constants = {"zero": literal(0, dtype), "one": literal(1, dtype),
                     "half": literal(0.5, dtype) if _kind(dtype) == 0 else ""}
    if "{dtype_name}" in template:
        template = template.replace("{dtype_name}", "f32" if dtype == "float32" else "f64")
    named = {k: compute_dtype(v) if k == "dtype" else number_literal(v) for k, v in attrs}
    if named.get("dtype") == "bool":
        named["dtype"] = "bool_"
    return template.format(*args, **named, **constants)


# ---- reductions -------------------------------------------------------------------

def accumulator_dtype(reduce: Reduce) -> str:
    """The dtype ``reduce`` accumulates in: float64 (int64) for float (other) sums and
    products, as on the CPU (so GPU sums agree with the CPU's to float32 rounding);
    the computed dtype for max and min; int32 for booleans (they live in shared memory,
    where 0 and 1 combine as max and min)."""
    src = np.dtype(reduce.src_dtype)
    if reduce.combine in ("sum", "prod"):
        return "float64" if src.kind == "f" else "int64"
    if src == np.bool_:
        return "int32"
    return compute_dtype(src)


def combine_text(reduce: Reduce, acc: str, v: str) -> str:
    """The expression folding value ``v`` into accumulator ``acc`` (max/min propagate
    NaN and keep the first operand on ties; bool max/min are max/min of 0 and 1)."""
    if reduce.combine == "sum":
        return f"{acc} + {v}"
    if reduce.combine == "prod":
        return f"{acc} * {v}"
    return extreme_select(reduce.combine, reduce.src_dtype, acc, v)


def arg_takes(reduce: Reduce, a: str, ia: str, b: str, ib: str) -> str:
    """The condition under which (value ``b``, position ``ib``) replaces (``a``, ``ia``)
    in an argmax/argmin when the two come from interleaved positions (a tree step): the
    extreme wins, NaN wins over numbers, and on equal values (or two NaNs) the first
    position wins, so the result is NumPy's first extreme position."""
    cmp = ">" if reduce.combine == "argmax" else "<"
    if reduce.src_dtype.startswith("float"):
        return (f"(({b} != {b}) and (({a} == {a}) or {ib} < {ia})) or "
                f"(({a} == {a}) and ({b} {cmp} {a} or ({b} == {a} and {ib} < {ia})))")
    return f"({b} {cmp} {a}) or ({b} == {a} and {ib} < {ia})"
