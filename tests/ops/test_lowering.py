"""graphc.ops.lowering: composites and deferred gradients replaced by what they stand
for, in one walk."""

from __future__ import annotations

import numpy as np

import graphc
import graphc.functional as F
import graphc.module as M
from graphc import interp
from graphc.autodiff import GradManager
from graphc.ir import topo_order
from graphc.ops import lowering


def _deep_training_graph(layers: int):
    """The loss and deferred gradients of a stack of Linear+LayerNorm layers: markers
    whose VJP graphs hold composites (layer norm's), which hold more."""
    graphc.random.seed(0)
    blocks = []
    for _ in range(layers):
        blocks += [M.Linear(4, 4), M.LayerNorm(4), M.GELU()]
    model = M.Sequential(*blocks)
    gm = GradManager().attach(model.parameters())
    x = graphc.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    with gm:
        loss = (model(x) ** 2).mean()
        gm.backward(loss)
    return [loss._node] + [p.grad._node for p in model.parameters()]


def test_every_node_is_rebuilt_once_however_deep_the_nesting(monkeypatch):
    calls = []
    real = lowering.rebuild
    monkeypatch.setattr(lowering, "rebuild", lambda n, inputs: calls.append(n.uid) or
                        real(n, inputs))
    roots = _deep_training_graph(12)
    lowered, mapping = lowering.lower_graph(roots)
    assert len(calls) == len(set(calls))  # (repeated walks rebuilt each node per level)
    ops = lowering.OPS
    assert not any(n.op in ops and (ops[n.op].composite or ops[n.op].marker)
                   for n in topo_order(lowered))


def test_the_lowered_graph_computes_what_the_original_stands_for():
    roots = _deep_training_graph(3)
    want = interp.run(roots)  # the interpreter lowers markers only
    lowered, mapping = lowering.lower_graph(roots)
    got = interp.run(lowered)
    for r, n in zip(roots, lowered):
        np.testing.assert_allclose(got[n.uid], want[r.uid], rtol=1e-5, atol=1e-6)


def test_nothing_to_lower_returns_the_roots_and_no_mapping():
    x = graphc.tensor(np.ones(3, np.float32))
    y = F.relu(x * 2)
    roots, mapping = lowering.lower_graph([y._node])
    assert roots == [y._node] and mapping == {}
