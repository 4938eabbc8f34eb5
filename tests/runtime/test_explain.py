"""graphc.explain on pending and realized tensors."""

import numpy as np

import graphc
import graphc.functional as F


def test_a_pending_softmax_is_one_loop_kernel():
    x = graphc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    e = graphc.explain(F.softmax(x * 5, axis=1))
    assert [k.kind for k in e.kernels] == ["loop"] and e.realized == 0


def test_a_realized_tensor_is_reported_not_silently_dropped():
    x = graphc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = x * 7
    y.numpy()
    e = graphc.explain(y)
    assert e.kernels == [] and e.realized == 1
    assert "already realized" in str(e)
