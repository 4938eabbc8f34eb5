"""Helpers shared by the pass tests: values of a Graph on the reference interpreter."""

import numpy as np

from graphc import interp
from graphc.ir import Graph


def values(graph: Graph) -> list[np.ndarray]:
    """The interpreted value of each output of ``graph``."""
    got = interp.run(list(graph.outputs))
    return [got[o.uid] for o in graph.outputs]


def assert_same_values(before: Graph, after: Graph, rtol: float = 0.0) -> None:
    """Equal values, dtypes and shapes; NaN where NaN; the sign of every zero kept."""
    for a, b in zip(values(before), values(after)):
        assert a.dtype == b.dtype and a.shape == b.shape
        if rtol:
            np.testing.assert_allclose(b, a, rtol=rtol, equal_nan=True)
        else:
            np.testing.assert_array_equal(b, a)
        zero = a == 0
        np.testing.assert_array_equal(np.signbit(b[zero]), np.signbit(a[zero]))
