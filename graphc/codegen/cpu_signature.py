"""numba argument types of a CPU kernel, read off its kernel IR's signature.

A Program's kernels compile ahead of their first call on two processes
(graphc/codegen/precompile.py), which needs each call's numba types before anything
runs. The signature says each parameter's kind, dtype and rank; an array's layout and
writability are the one thing only the array in hand can say (a transposed view of an
argument is not C-contiguous, a Program output handed back is read-only). The sizes are
the IR's integer parameters, which the CPU renderer packs into one int64 array ``sh``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir.kernel_ir import Param


def argument_types(signature: Sequence[Param], values: Sequence) -> tuple:
    """The numba types of a call of a kernel with ``signature`` on ``values`` (one per
    parameter), the sizes array last. ValueError where a value does not fit."""
    from numba import from_dtype, types
    from numba.np.numpy_support import map_layout

    result = []
    for param, value in zip(signature, values, strict=True):
        dtype = from_dtype(np.dtype(param.dtype))
        if param.kind == "scalar":
            result.append(dtype)
            continue
        if not isinstance(value, np.ndarray) or value.ndim != param.ndim or \
                value.dtype != np.dtype(param.dtype):
            raise ValueError(f"{param} cannot take {type(value).__name__}")
        result.append(types.Array(dtype, param.ndim, map_layout(value),
                                  readonly=not value.flags.writeable))
    return tuple(result) + (types.Array(types.int64, 1, "C"),)
