"""The NumPy reference interpreter (graphc/interp.py): values, memoisation, freeing of
intermediates, read-only results and errors that carry the node's location."""

import inspect
import os
import weakref

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import OpError, interp
from graphc.ir import buffer_node
from graphc.ops import apply


def next_line() -> str:
    """``file:line`` of the caller's next line: where a node built there is located."""
    frame = inspect.currentframe().f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno + 1}"


def leaf(data):
    return buffer_node(np.asarray(data), "cpux")


def test_run_evaluates_roots():
    x = np.array([[0.5, 1.0], [2.0, -1.0]], np.float32)
    y = apply("exp", [leaf(x)])
    z = apply("sum", [apply("mul", [y, y])], axes=(1,), keepdims=False)
    values = interp.run([y, z])
    np.testing.assert_allclose(values[y.uid], np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(values[z.uid], np.sum(np.exp(x) ** 2, axis=1), rtol=1e-6)


def test_run_returns_only_roots_and_memoised_nodes():
    x = leaf(np.arange(3, dtype=np.float32))
    a = apply("neg", [x])
    b = apply("exp", [a])
    c = apply("sin", [b])
    values = interp.run([c], memo={a.uid})
    assert set(values) == {a.uid, c.uid}
    np.testing.assert_allclose(values[a.uid], -np.arange(3, dtype=np.float32))
    np.testing.assert_allclose(values[c.uid], np.sin(np.exp(-np.arange(3, dtype=np.float32))),
                               rtol=1e-6)


def test_a_realized_root_returns_its_buffer():
    data = np.ones(2, np.float32)
    x = leaf(data)
    assert interp.run([x])[x.uid] is data


def test_intermediates_are_freed_after_their_last_use(monkeypatch):
    x = leaf(np.arange(4, dtype=np.float32))
    chain = [x]
    for op in ("exp", "sin", "cos", "tanh", "neg"):
        chain.append(apply(op, [chain[-1]]))
    alive_when_evaluated: dict[str, list[bool]] = {}
    outputs: dict[int, weakref.ref] = {}
    evaluate = interp.evaluate

    def watching(node, args):
        alive_when_evaluated[node.op] = [ref() is not None for ref in outputs.values()]
        out = evaluate(node, args)
        outputs[node.uid] = weakref.ref(out)
        return out

    monkeypatch.setattr(interp, "evaluate", watching)
    result = interp.run([chain[-1]])
    # When neg runs, only its input (tanh's output) may still be alive.
    assert alive_when_evaluated["neg"] == [False, False, False, True]
    np.testing.assert_allclose(result[chain[-1].uid],
                               -np.tanh(np.cos(np.sin(np.exp(np.arange(4.0))))), rtol=1e-6)


def test_values_used_twice_live_until_their_last_use():
    x = leaf(np.array([1.0, 2.0], np.float32))
    a = apply("exp", [x])
    b = apply("add", [apply("sin", [a]), a])
    np.testing.assert_allclose(interp.run([b])[b.uid], np.sin(np.exp([1.0, 2.0])) +
                               np.exp([1.0, 2.0]), rtol=1e-6)


def test_results_are_read_only():
    x = leaf(np.ones((2, 2), np.float32))
    y = apply("add", [x, x])
    z = apply("reshape", [y], shape=(4,))
    values = interp.run([y, z])
    for value in values.values():
        assert not value.flags.writeable
        with pytest.raises(ValueError):
            value[...] = 0


def test_evaluate_casts_to_the_inferred_dtype_and_checks_the_shape():
    x = leaf(np.array([True, False, True]))
    s = apply("sum", [x], axes=(0,), keepdims=False)
    out = interp.evaluate(s, [x.buffer])
    assert out.dtype == np.int32 and out == 2


def test_op_error_carries_the_node_location():
    x = leaf(np.arange(6, dtype=np.float32).reshape(2, 3))
    where = next_line()
    node = apply("gather", [x, leaf(np.array([[0, 7, 1]], np.int32))], axis=1)
    with pytest.raises(OpError) as info:
        interp.run([node])
    message = str(info.value)
    assert message.startswith("gather: index 7 is out of bounds") and where in message


def test_op_error_through_a_tensor_names_the_users_line(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")
    x = graphc.tensor(np.arange(4, dtype=np.float32))
    where = next_line()
    y = x[graphc.tensor(np.array([1, 9], np.int32))]
    with pytest.raises(OpError) as info:
        (y * 2).numpy()
    assert where in str(info.value)


def test_a_pending_node_without_inputs_is_an_error():
    from graphc.ir import placeholder_node

    p = placeholder_node((2,), np.float32, "cpux", "x")
    with pytest.raises(OpError, match="placeholder node .* has no value"):
        interp.run([apply("neg", [p])])


def test_realize_on_the_interp_backend_memoises_live_tensors(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")
    x = graphc.tensor([1.0, 2.0])
    a = F.exp(x)
    b = a * 2
    b.numpy()
    assert a._node.realized and b._node.realized
    np.testing.assert_allclose(a._node.buffer, np.exp([1.0, 2.0]), rtol=1e-6)
