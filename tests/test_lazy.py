"""The doors of lazy state (graphc/lazy.py): when realization happens, what it memoises,
what it forgets, the rebind/grad hooks, and graphs that stay bounded in long loops."""

import gc
import threading

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import lazy
from graphc.ir import Node, count_nodes
from graphc.ir.state import current


@pytest.fixture
def realize_calls():
    """Records the pending nodes of every realization."""
    calls = []

    class Recorder:  # the protocol graphc.viz.capture follows
        def record(self, roots):
            calls.append(roots)

    recorder = Recorder()
    current().captures.append(recorder)
    yield calls
    current().captures.remove(recorder)


@pytest.fixture
def rebinds():
    """The thread's mutations noted by the rebind door (for the next optimizer step)."""
    mutated = current().mutated
    mutated.clear()
    yield mutated
    mutated.clear()


A = np.array([[1.0, -2.0], [3.0, 0.5]], dtype=np.float32)


def _pending():
    return graphc.tensor(A) * 2 + 1


# ---- what realizes ---------------------------------------------------------------

def test_operations_do_not_realize(realize_calls):
    y = _pending()
    z = (y @ y).sum(axis=0) - y.mean()
    w = z.reshape(2, 1).T
    for t in (y, z, w):
        assert not t._node.realized
    assert realize_calls == []


@pytest.mark.parametrize("read", [
    lambda t: t.numpy(), lambda t: t.tolist(), lambda t: repr(t), lambda t: str(t),
    lambda t: np.asarray(t), lambda t: graphc.realize(t), lambda t: t.sum().item(),
], ids=["numpy", "tolist", "repr", "str", "asarray", "realize", "item"])
def test_reads_realize(read, realize_calls):
    y = _pending()
    read(y)
    assert y._node.realized
    assert len(realize_calls) == 1
    np.testing.assert_array_equal(y._node.buffer, A * 2 + 1)


@pytest.mark.parametrize("convert", [bool, int, float])
def test_scalar_conversions_realize(convert):
    s = (graphc.tensor([1.5, 2.5]) * 2).sum()
    assert convert(s) == convert(8.0)
    assert s._node.realized


def test_realize_of_several_tensors_runs_once(realize_calls):
    a, b = _pending(), graphc.tensor(A) - 3
    pending = sorted(str(n.type) + n.op for n in (a._node, b._node))
    graphc.realize(a, b)
    assert a._node.realized and b._node.realized
    assert len(realize_calls) == 1
    assert sorted(str(n.type) + n.op for n in realize_calls[0]) == pending
    np.testing.assert_array_equal(b.numpy(), A - 3)
    assert len(realize_calls) == 1  # reading a realized tensor computes nothing


def test_realize_of_realized_or_leaf_tensors_does_nothing(realize_calls):
    graphc.realize(graphc.tensor(A))
    graphc.realize()
    assert realize_calls == []


def test_live_pending_tensors_inside_the_subgraph_are_memoised(realize_calls):
    x = graphc.tensor(A)
    inner = x * 2
    outer = inner + 1
    unrelated = x * 3
    outer.numpy()
    assert inner._node.realized
    np.testing.assert_array_equal(inner._node.buffer, A * 2)
    assert not unrelated._node.realized
    inner.numpy()
    assert len(realize_calls) == 1
    pending = lazy.live_pending_tensors()
    assert not any(t is inner for t in pending) and any(t is unrelated for t in pending)


def test_realized_node_drops_its_inputs():
    y = _pending()
    assert y._node.inputs != ()
    y.numpy()
    assert y._node.inputs == ()
    assert count_nodes([y._node]) == 1


def test_keeping_graph_keeps_inputs():
    with lazy.keeping_graph():
        assert lazy.keep_graph()
        y = _pending()
        y.numpy()
        assert y._node.realized and len(y._node.inputs) == 2
    assert not lazy.keep_graph()
    np.testing.assert_array_equal(y.numpy(), A * 2 + 1)


def test_unknown_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "nope")
    with pytest.raises(ValueError, match="nope"):
        _pending().numpy()


# ---- the rebind door -------------------------------------------------------------

def test_the_rebind_door_notes_inplace_ops(rebinds):
    y = _pending()
    old = y._node
    y += 1
    assert list(rebinds.values()) == [y] and y._node is not old
    np.testing.assert_array_equal(y.numpy(), A * 2 + 2)


def test_the_rebind_door_notes_setitem(rebinds):
    y = graphc.tensor(A)
    old = y._node
    y[0, 1] = 7.0
    assert list(rebinds.values()) == [y] and y._node is not old
    want = A.copy()
    want[0, 1] = 7.0
    np.testing.assert_array_equal(y.numpy(), want)


def test_rebinding_a_pending_tensor_twice_is_safe():
    # a tracked tensor tracked again must not be compared with == (elementwise)
    y = _pending()
    y += 1
    y *= 2
    np.testing.assert_array_equal(y.numpy(), (A * 2 + 2) * 2)


def test_set_grad(rebinds):
    w = graphc.Parameter(A)
    g = graphc.tensor(np.ones_like(A))
    w.grad = g
    assert w.grad is g
    assert not rebinds  # a gradient is no mutation of the value
    w.grad = None
    assert w.grad is None
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 2\)"):
        w.grad = graphc.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        w.grad = np.ones_like(A)
    assert w.grad is None


# ---- bounded graphs --------------------------------------------------------------

def _closed_form(x0: np.ndarray, steps: int) -> np.ndarray:
    """x ← 0.5 x + 1 has the fixed point 2 and halves the distance to it each step."""
    return 2.0 + (x0.astype(np.float64) - 2.0) * 0.5 ** steps


X0 = np.array([0.0, 1.0, 4.0, -3.0], dtype=np.float32)


def _live_nodes() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Node)  # type(): dead proxies raise


def test_training_like_loop_keeps_the_graph_bounded():
    read_every = 100
    # per step: mul, add and a fresh 0.5 with its broadcast (runtime scalars are never
    # merged); the realized input and the shared constant 1 with its broadcast
    bound = 4 * read_every + 5
    x = graphc.tensor(X0)
    live = {}
    for step in range(1, 10_001):
        x = x * 0.5 + 1
        assert count_nodes([x._node]) <= bound, step
        if step % read_every == 0 or step == 7:
            np.testing.assert_allclose(x.numpy(), _closed_form(X0, step), rtol=1e-6)
            if step in (100, 1000, 10_000):
                live[step] = _live_nodes()
    np.testing.assert_allclose(x.numpy(), _closed_form(X0, 10_000), rtol=1e-6)
    # memory: the number of live nodes does not grow with the number of steps
    assert live[10_000] <= live[100] + 5 and live[1000] <= live[100] + 5, live


def test_a_chain_never_read_is_realized_at_the_depth_limit():
    limit = lazy.MAX_PENDING_DEPTH
    x = graphc.tensor(X0)
    for step in range(1, 5001):
        x = x * 0.5 + 1
        assert x._node.depth <= limit + 1, step
        if step % 250 == 0:
            assert count_nodes([x._node]) <= 2 * limit + 5, step
    np.testing.assert_allclose(x.numpy(), _closed_form(X0, 5000), rtol=1e-6)


def test_depth_limit_applies_to_inplace_updates():
    x = graphc.tensor(X0)
    for _ in range(3 * lazy.MAX_PENDING_DEPTH):
        x += 1
        assert x._node.depth <= lazy.MAX_PENDING_DEPTH + 1
    np.testing.assert_allclose(x.numpy(), X0 + 3 * lazy.MAX_PENDING_DEPTH)


def test_live_registry_is_swept_and_keeps_insertion_order():
    # Temporaries die at once; reading the registry sweeps them (and realized ones).
    x = graphc.tensor([1.0, 2.0])
    kept = [x * float(i) for i in range(3)]
    for i in range(500):
        _ = x + float(i)
    gc.collect()
    live = lazy.live_pending_tensors()
    assert [t for t in live if any(t is k for k in kept)] == kept  # built order
    assert len(current().live) == len(live)
    # A new Tensor that reuses a dead one's id goes last, as if freshly inserted.
    first_id = id(kept[0])
    del kept[0], live
    gc.collect()
    newer = [x - float(i) for i in range(50)]
    again = [t for t in newer if id(t) == first_id]
    order = [t for t in lazy.live_pending_tensors() if any(t is k for k in kept + newer)]
    assert order == kept + newer
    position = {id(t): i for i, t in enumerate(order)}  # list.index would use Tensor ==
    assert all(position[id(t)] > position[id(kept[-1])] for t in again)
    graphc.realize(*kept, *newer)  # realized: no longer listed, and swept
    assert not [t for t in lazy.live_pending_tensors() if any(t is k for k in kept + newer)]
    assert all(id(t) not in current().live for t in kept + newer)


def test_a_released_node_keeps_its_value_only_while_a_pending_graph_may_read_it():
    """Realizing ``y`` rebinds it to a leaf; its old node keeps a value in the realized
    table only while a live pending Tensor (``z``, built on it) may still read it. (In a
    thread of its own: a pending Tensor another test left alive on this thread would
    keep every released value, rightly.)"""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _released_node_values()
        except BaseException as err:  # re-raised on the test's thread
            errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def _released_node_values() -> None:
    from graphc.ir.values import _values

    x = graphc.tensor(np.arange(4, dtype=np.float32))
    y = F.exp(x)
    z = y * 2
    node = y._node
    y.numpy()
    assert node.uid in _values  # z's graph reads it: not computed twice
    np.testing.assert_allclose(z.numpy(), 2 * np.exp(np.arange(4, dtype=np.float32)),
                               rtol=1e-6)
    w = F.exp(x) + 1
    node = w._node
    w.numpy()
    assert node.uid not in _values  # nothing pending left to read it
