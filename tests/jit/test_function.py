"""graphc.function: placeholders in, NumPy arrays out; updates; bound state; errors."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc import TraceError

RNG = np.random.default_rng(0)


def mlp():
    graphc.random.seed(1)
    return M.Sequential(M.Linear(6, 8), M.ReLU(), M.Linear(8, 3))


def test_placeholder_mlp_inference_matches_the_lazy_path():
    net = mlp()
    x = graphc.placeholder((None, 6), name="x")
    f = graphc.function([x], F.softmax(net(x), axis=1), name="infer")
    for batch in (4, 7, 4):
        a = RNG.standard_normal((batch, 6)).astype(np.float32)
        want = F.softmax(net(graphc.tensor(a)), axis=1).numpy()
        got = f(a)
        assert got.shape == (batch, 3)
        np.testing.assert_array_equal(got, want)
    assert f.stats["specialisations"] == 2


def test_outputs_mirror_tuples_and_dicts_and_inputs_go_by_name():
    x = graphc.placeholder((3,), name="x")
    y = graphc.placeholder((3,), name="y")
    f = graphc.function([x, y], {"sum": x + y, "pair": (x * y, F.relu(x - y))})
    a, b = np.array([1., -2., 3.], np.float32), np.array([2., 2., 2.], np.float32)
    out = f(y=b, x=a)
    np.testing.assert_array_equal(out["sum"], a + b)
    np.testing.assert_array_equal(out["pair"][0], a * b)
    np.testing.assert_array_equal(out["pair"][1], np.maximum(a - b, 0))
    assert f.input_names == ["x", "y"]
    assert f.output_names == ["sum", "pair[0]", "pair[1]"]
    assert [n.op for n in f.input_nodes] == ["placeholder", "placeholder"]


def test_updates_apply_after_each_call():
    x = graphc.placeholder((2,), name="x")
    total = graphc.Parameter([0., 10.])
    step = graphc.function([x], total * 1, updates=[(total, total + x)])
    outs = [step(np.array([1., 2.], np.float32)) for _ in range(3)]
    np.testing.assert_array_equal(outs[-1], [2., 14.])  # the value before the 3rd update
    np.testing.assert_array_equal(total.numpy(), [3., 16.])
    assert step.output_names[-1].startswith("update:")


def test_parameters_are_bound_not_copied():
    w = graphc.Parameter([1., 2.])
    x = graphc.placeholder((2,), name="x")
    f = graphc.function([x], x * w)
    np.testing.assert_array_equal(f(np.ones(2, np.float32)), [1., 2.])
    w -= 1  # a lazy update outside the function
    np.testing.assert_array_equal(f(np.ones(2, np.float32)), [0., 1.])


def test_inputs_convert_like_graphc_tensor_and_bad_inputs_are_clear():
    x = graphc.placeholder((2, 2), name="x")
    f = graphc.function([x], x.sum(), name="total")
    assert f(np.ones((2, 2))) == 4  # float64 becomes float32, as graphc.tensor does
    with pytest.raises(TraceError, match=r"total: input 'x' expects shape \(2, 2\), got \(3,"):
        f(np.ones((3, 2), np.float32))
    with pytest.raises(TraceError, match="expects float32, got int8"):
        f(np.ones((2, 2), np.int8))
    with pytest.raises(TraceError, match=r"takes 1 input\(s\) \['x'\], got 2"):
        f(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(TraceError, match="no input named 'z'"):
        f(z=np.ones((2, 2)))


def test_none_dimensions_share_one_size_per_call():
    x = graphc.placeholder((None, 2), name="x")
    y = graphc.placeholder((None,), name="y")
    f = graphc.function([x, y], x.sum(axis=1) + y)
    np.testing.assert_array_equal(f(np.ones((3, 2)), np.arange(3.)), [2., 3., 4.])
    with pytest.raises(TraceError, match=r"x.shape\[0\] is 3 but y.shape\[0\] is 2"):
        f(np.ones((3, 2)), np.arange(2.))


def test_a_graph_that_uses_the_batch_size_as_a_number_is_refused_when_made():
    x = graphc.placeholder((None, 2), name="x")
    last = x[x.shape[0] - 1]  # the last row: depends on the size, not only the shape
    with pytest.raises(TraceError, match=r"does not follow a None \(symbolic\) dimension"):
        graphc.function([x], last)


def test_random_draws_are_fresh_each_call_and_follow_the_seed():
    x = graphc.placeholder((64,), name="x")
    f = graphc.function([x], F.dropout(x, 0.5))
    ones = np.ones(64, np.float32)
    graphc.random.seed(5)
    first = [f(ones) for _ in range(3)]
    assert not np.array_equal(first[0], first[1])
    graphc.random.seed(5)
    again = [f(ones) for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_inputs_must_be_placeholders():
    with pytest.raises(TypeError, match="inputs\\[0\\] must be a graphc.placeholder"):
        graphc.function([graphc.tensor([1.])], graphc.tensor([1.]))


def test_reading_a_placeholder_that_is_not_an_input_is_an_error():
    x = graphc.placeholder((2,), name="x")
    z = graphc.placeholder((2,), name="z")
    with pytest.raises(TraceError, match="placeholder 'z'"):
        graphc.function([x], x + z)


def test_inspection_graph_stats_and_explain(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    x = graphc.placeholder((4,), name="x")
    f = graphc.function([x], F.relu(x * 2.0 + 1.0), name="affine")
    np.testing.assert_array_equal(f(np.array([-1., 0., 1., 2.], np.float32)), [0., 1., 3., 5.])
    assert f.stats["kernels"] == 1 and f.stats["compile_seconds"] >= 0
    assert f.stats["backend"] == "compiled"
    assert [n.op for n in f.graph.pending()][-1] == "relu"
    assert len(f.explain().kernels) == 1
    assert "affine(x: float32[4])" in repr(f)
