"""The ``lower`` pass (graphc/passes/lower.py): deferred gradients and composite ops become
the primitive graphs they stand for, to a fixpoint; the consts those graphs bring in
are known to ``fold_constants``, the graph's own consts are not."""

from __future__ import annotations

import numpy as np

import graphc
import graphc.functional as F
from graphc import interp
from graphc.autodiff import GradManager
from graphc.backends.cpu import cpu_backend
from graphc.functional.composite import composite
from graphc.ir import Graph, const_in_key
from graphc.passes import PASSES, run_pipeline
from graphc.passes.fold_constants import is_known_constant


@composite("test_lower_scaled_mean")
def scaled_mean(x, scale):
    """A mean (its 1/N is a const the expansion makes) times a tensor input."""
    return x.mean() * scale


def test_composites_and_markers_lower_to_primitives_with_the_same_values():
    w = graphc.Parameter(np.arange(6, dtype=np.float32).reshape(2, 3) / 10)
    x = graphc.tensor(np.ones((4, 3), np.float32))
    gm = GradManager().attach([w])
    with gm:
        loss = F.cross_entropy(F.linear(x, w), graphc.tensor(np.array([0, 1, 1, 0], np.int32)))
        gm.backward(loss)
    outputs = (loss._node, w.grad._node)
    lowered = PASSES["lower"](Graph(outputs))
    ops = {n.op for n in lowered.nodes() if n.inputs}
    assert not ops & {"grad_of", "linear", "cross_entropy"} and "matmul" in ops
    before, after = interp.run(list(outputs)), interp.run(list(lowered.outputs))
    for old, new in zip(outputs, lowered.outputs):
        np.testing.assert_allclose(after[new.uid], before[old.uid], rtol=1e-6)


def test_consts_the_lowering_brings_in_fold_and_the_graphs_own_do_not():
    x = graphc.tensor(np.arange(8, dtype=np.float32))
    lr = graphc.tensor(0.25)  # a buffer: a runtime input
    runtime_scalar = scaled_mean(x, lr) * 0.5  # 0.5: a runtime-argument const
    graph = Graph((runtime_scalar._node,))
    own = [n for n in graph.nodes() if n.op in ("const", "scalar") and not const_in_key(n)]
    assert own and not any(is_known_constant(c) for c in own)
    lowered = PASSES["lower"](graph)
    made = [n for n in lowered.nodes() if n.op in ("const", "scalar") and n not in own
            and not const_in_key(n)]
    assert made and all(is_known_constant(c) for c in made)  # the mean's 1/8
    assert not any(is_known_constant(c) for c in own)  # still runtime arguments
    optimized = run_pipeline(graph, capabilities=cpu_backend().capabilities)
    consts = {n.value for n in optimized.nodes() if n.op in ("const", "scalar")}
    assert 0.5 in consts  # the runtime scalar stays an argument, unfolded
    np.testing.assert_allclose(runtime_scalar.numpy(), 3.5 * 0.25 * 0.5)
