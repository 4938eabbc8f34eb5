"""What both numba renderers share: kernels are Python source for ``numba.njit`` (CPU)
and ``numba.cuda.jit`` (GPU) alike, so scalar ops that Python's operators spell, typed
literals and the dtype a kernel computes in print the same for both.

Each backend's table (graphc/codegen/cpu_ops.py, graphc/codegen/cuda_ops.py) adds the
ops whose text is its own (math functions, its helper library, float products on the
GPU).

>>> literal(1.5, "float16"), PYTHON_OPS["where"].format("c", "a", "b")
('float32(1.5)', '(a if c else b)')
"""

from __future__ import annotations

import numpy as np

from ..ops.attrs import literal as number_literal

# Scalar ops whose text is the same for every operand dtype and both backends.
PYTHON_OPS: dict[str, str] = {
    "copy": "{0}",
    "neg": "(-{0})",
    "abs": "abs({0})",
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "div": "({0} / {1})",
    "maximum": "maximum({0}, {1})",
    "minimum": "minimum({0}, {1})",
    "equal": "({0} == {1})",
    "not_equal": "({0} != {1})",
    "less": "({0} < {1})",
    "less_equal": "({0} <= {1})",
    "greater": "({0} > {1})",
    "greater_equal": "({0} >= {1})",
    "logical_and": "({0} and {1})",
    "logical_or": "({0} or {1})",
    "logical_xor": "({0} != {1})",
    "logical_not": "(not {0})",
    "where": "({1} if {0} else {2})",
    "cast": "{dtype}({0})",
}


def compute_dtype(dtype: np.dtype | str) -> str:
    """The dtype a kernel computes in: float16 is a storage type on both backends."""
    name = np.dtype(dtype).name
    return "float32" if name == "float16" else name


def literal(value: object, dtype: np.dtype | str) -> str:
    """A typed scalar literal (typed, so float32 math stays float32); TypeError unless
    ``value`` is a number (see :func:`graphc.ops.attrs.literal`)."""
    name = compute_dtype(dtype)
    text = number_literal(value)
    if name == "bool":
        return "True" if value else "False"
    return f"{name}({text})"


def extreme_select(combine: str, src_dtype: str, acc: str, v: str) -> str:
    """The expression folding ``v`` into the running max/min (or argmax/argmin value)
    ``acc``: it propagates NaN and keeps the first operand on ties, as NumPy does."""
    cmp = ">" if combine in ("max", "argmax") else "<"
    nan = f" or ({v} != {v} and {acc} == {acc})" if src_dtype.startswith("float") else ""
    return f"{v} if ({v} {cmp} {acc}{nan}) else {acc}"
