"""dtype rules, following MegEngine.

- Data without an explicit dtype: float64 → float32, int64 → int32 (also for nested
  lists); Python float → float32, int → int32, bool → bool.
- Between tensors, NumPy's promotion (float16 with float32 gives float32).
- A Python scalar promotes a tensor only when its kind (bool < int < float) is higher:
  int32 tensor + 1.5 → float32, float16 tensor + 1.0 → float16.
"""

from __future__ import annotations

from typing import Any

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
bool_ = np.dtype(np.bool_)

_DEFAULT_OF = {np.dtype(np.float64): float32, np.dtype(np.int64): int32,
               np.dtype(np.uint64): int32}


def kind_rank(dtype: np.dtype) -> int:
    """0 for bool, 1 for integers, 2 for floating point."""
    if dtype == bool_:
        return 0
    if np.issubdtype(dtype, np.integer):
        return 1
    if np.issubdtype(dtype, np.floating):
        return 2
    raise TypeError(f"unsupported dtype {dtype}")


def canonical(dtype: Any) -> np.dtype:
    """Normalise a user dtype spec (``"float32"``, ``np.int32``, ``bool``) to np.dtype."""
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype") from None


def default_for_data(dtype: np.dtype) -> np.dtype:
    """MegEngine's default: 64-bit data becomes 32-bit."""
    return _DEFAULT_OF.get(dtype, dtype)


def scalar_dtype(value: bool | int | float) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int32
    return float32


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """Promotion between two tensors."""
    return default_for_data(np.promote_types(a, b)) if a != b else a


def promote_with_scalar(tensor_dtype: np.dtype, value: bool | int | float) -> np.dtype:
    """Promotion of a tensor with a Python scalar: the scalar wins only by kind."""
    sdt = scalar_dtype(value)
    return sdt if kind_rank(sdt) > kind_rank(tensor_dtype) else tensor_dtype


def to_float(dtype: np.dtype) -> np.dtype:
    """The dtype a float-only op computes in: floats stay, others become float32."""
    return dtype if kind_rank(dtype) == 2 else float32
