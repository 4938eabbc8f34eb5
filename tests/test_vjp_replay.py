"""Backward replay (graphc/vjp_replay.py): a replayed backward is the graph the VJP rules
build, node for node, and gives their values."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc import vjp_replay
from graphc.autodiff import Function, GradManager, _ones_like, vjp_graph
from graphc.ir import structural_key, topo_order

RNG = np.random.default_rng(0)


def _mlp_loss(model, x, y):
    return F.cross_entropy(model(x), y)


def _cnn():
    return M.Sequential(M.Conv2d(1, 3, 3, padding=1), M.BatchNorm2d(3), M.ReLU(),
                        M.MaxPool2d(2), M.Flatten(), M.Linear(12, 4))


CASES = {
    "mlp": (lambda: M.Sequential(M.Linear(6, 5), M.ReLU(), M.Linear(5, 3)), (4, 6)),
    "cnn": (_cnn, (2, 1, 4, 4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_replayed_backward_is_the_graph_the_rules_build(case):
    build, shape = CASES[case]
    graphc.random.seed(0)
    model = build()
    params = list(model.parameters())
    vjp_replay.clear()

    def backward(seed):
        rng = np.random.default_rng(seed)
        x = graphc.tensor(rng.standard_normal(shape).astype(np.float32))
        y = graphc.tensor(rng.integers(0, 3, shape[0]).astype(np.int32))
        loss = _mlp_loss(model, x, y)
        return loss, graphc.grad(loss, params)

    _, first = backward(1)
    recorded = vjp_replay.stats["recorded"]
    replayed = vjp_replay.stats["replayed"]
    loss, second = backward(2)
    assert vjp_replay.stats["replayed"] == replayed + 1
    assert vjp_replay.stats["recorded"] == recorded
    # Same structure as the recorded (rule-built) gradients ...
    key = structural_key([g._node for g in first])[0]
    assert structural_key([g._node for g in second])[0] == key
    # ... and the graph the rules build on the second forward graph: the same nodes
    # (hash-consing), up to the constants the rules made, which a replay reuses.
    fresh = vjp_graph([loss._node], [_ones_like(loss._node)], [p._node for p in params])
    assert structural_key(fresh)[0] == key
    shared = {n.uid for n in topo_order(fresh)} & {n.uid for n in topo_order(
        [g._node for g in second])}
    assert len(shared) > len(topo_order([loss._node]))  # not just the forward graph
    for got, want in zip(second, fresh):
        np.testing.assert_array_equal(got.numpy(), graphc.Tensor._wrap(want).numpy())
    for g in second:
        assert g._node.meta.from_autodiff


def test_a_replay_reads_the_current_constants():
    """Leaf values are not in the key: ``x * c`` with a new c replays and gives the new c."""
    x = graphc.tensor(np.ones(3, np.float32))
    got = [graphc.grad((x * c).sum(), x).numpy() for c in (2.0, 3.0, 0.5)]
    np.testing.assert_array_equal(got, [[2.0] * 3, [3.0] * 3, [0.5] * 3])


def test_gradients_flow_only_through_recorded_nodes_on_replay():
    w = graphc.Parameter(np.array([1.0, 2.0], np.float32))
    gm = GradManager().attach(w)
    for _ in range(2):
        h = w * 3  # built before recording: no gradient flows through it
        with gm:
            gm.backward((h * w).sum())
        np.testing.assert_allclose(w.grad.numpy(), [3.0, 6.0])
        w.grad = None
        with gm:
            h = w * 3  # recorded now: the product rule sees both factors
            gm.backward((h * w).sum())
        np.testing.assert_allclose(w.grad.numpy(), [6.0, 12.0])
        w.grad = None


def test_custom_functions_are_never_replayed():
    class Cube(Function):
        calls = 0

        def forward(self, x):
            self.x = x
            return x ** 3

        def backward(self, dy):
            Cube.calls += 1
            return dy * 3 * self.x ** 2

    x = graphc.tensor([2.0])
    before = vjp_replay.stats["recorded"]
    for _ in range(2):
        assert graphc.grad(Cube()(x).sum(), x).item() == 12.0
    assert Cube.calls == 2
    assert vjp_replay.stats["recorded"] == before
