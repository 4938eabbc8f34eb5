"""End-to-end smoke test of the lazy front end against NumPy."""

import numpy as np

import graphc
import graphc.functional as F


def test_lazy_expression_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    x, y = graphc.tensor(a), graphc.tensor(b)
    z = F.relu(x * y + 1) - x / 2
    assert not z._node.realized
    np.testing.assert_allclose(z.numpy(), np.maximum(a * b + 1, 0) - a / 2, rtol=1e-6)
    assert z._node.realized
