"""Helpers for tests of the compiled path: run tensors through a compiled Program."""

from __future__ import annotations

import numpy as np

from graphc import interp
from graphc.ir import structural_key
from graphc.runtime.compiler import _runtime_value, compile_outputs


def run_compiled(*tensors):
    """Values of ``tensors`` computed by their compiled Program (never the interpreter),
    and the Compiled object, with the fused graph and kernels it was built from (a
    fresh compile: the Program cache keeps none of that)."""
    outs = [t._node for t in tensors]
    _, args = structural_key(outs)
    compiled = compile_outputs(outs, args)
    values = compiled.program.run([_runtime_value(a) for a in args])
    return [np.asarray(v) for v in values], compiled


def run_reference(*tensors):
    outs = [t._node for t in tensors]
    values = interp.run(outs)
    return [values[o.uid] for o in outs]


def tolerance(dtype: np.dtype) -> dict:
    if dtype == np.float16:
        # A fused kernel keeps float16 intermediates in float32 and rounds at its
        # outputs; the interpreter rounds after every op. One intermediate rounding
        # (half an ulp, 2**-12) grows through the ops after it: through exp by |x|, so
        # exp(add(a, b)) near x = 5 differs by ~3 ulps (173.125 vs 173.5, found by this
        # test). 6e-3 covers arguments up to |x| = 11, where float16 exp overflows.
        return {"rtol": 6e-3, "atol": 6e-3}
    if dtype == np.float32:
        return {"rtol": 2e-5, "atol": 2e-5}
    if dtype == np.float64:
        return {"rtol": 1e-12, "atol": 1e-12}
    return {"rtol": 0, "atol": 0}


def assert_same(*tensors) -> object:
    """Compiled and interpreted values agree within dtype tolerance; returns Compiled."""
    got, compiled = run_compiled(*tensors)
    want = run_reference(*tensors)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, equal_nan=True, **tolerance(w.dtype))
    return compiled
