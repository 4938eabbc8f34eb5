"""The plan_memory pass: intermediates share Program buffers by liveness; outputs never."""

import numpy as np

import graphc
import graphc.functional as F
from graphc.ir import Graph
from graphc.passes.fusion import fuse
from graphc.passes.memory import plan_memory
from tests.runtime.compiled import assert_same

rng = np.random.default_rng(0)


def chain(x):
    # Four library calls: each product is an intermediate read only by the next one.
    y = x @ x
    y = y @ x
    y = y @ x
    return y @ x


def test_outputs_and_values_they_view_get_fresh_buffers():
    x = graphc.tensor(rng.standard_normal((6, 6)).astype(np.float32))
    y = chain(x)
    view = (x @ x).T  # an output that is a view of a stored value
    fused = fuse(Graph((y._node, view._node)))
    plan = plan_memory(fused)
    assert y._node.uid not in plan.buffer_of
    assert fused.base_of(view._node).uid not in plan.buffer_of


def test_intermediates_with_disjoint_lifetimes_share_buffers():
    x = graphc.tensor(rng.standard_normal((6, 6)).astype(np.float32))
    y = chain(x)
    fused = fuse(Graph((y._node,)))
    plan = plan_memory(fused)
    stored = list(plan.buffer_of)
    assert len(stored) == 3  # three intermediate products
    assert len(plan.buffers) < len(stored)  # reused: y1 is dead once y2 is computed
    assert plan.planned_bytes == len(plan.buffers) * 6 * 6 * 4


def test_reused_buffers_give_correct_results_across_calls():
    for seed in range(3):
        data = np.random.default_rng(seed).standard_normal((6, 6)).astype(np.float32)
        x = graphc.tensor(data)
        assert_same(chain(x), F.relu(chain(x)) + 1)
