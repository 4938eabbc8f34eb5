"""graphc.jit.trace: MegEngine's jit.trace API (symbolic and non-symbolic), value reads
as guards, op-sequence checks, exclude_from_trace, capture_as_const and dump.

Independent answers: NumPy (a linear model trained by SGD, by hand), the same step
untraced, and the values each call's arguments give."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc.autodiff import GradManager
from graphc.jit import (
    TraceError,
    exclude_from_trace,
    is_tracing,
    load_function,
    partial_trace,
    trace,
)

RNG = np.random.default_rng(0)
W0 = RNG.standard_normal((3, 1)).astype(np.float32)
XS = [RNG.standard_normal((4, 3)).astype(np.float32) for _ in range(3)]
YS = [RNG.standard_normal((4, 1)).astype(np.float32) for _ in range(3)]
MODES = [pytest.param(True, id="symbolic"), pytest.param(False, id="non-symbolic")]


@pytest.fixture(params=["interp", "compiled"])
def backend(request, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", request.param)
    return request.param


def linear_step(read_inside: bool = False):
    """A GradManager + SGD step of a linear model; returns (step, w, b, logged)."""
    w = graphc.Parameter(W0.copy())
    b = graphc.Parameter(np.zeros(1, np.float32))
    gm = GradManager().attach([w, b])
    opt = optim.SGD([w, b], lr=0.1)
    logged = []

    def step(x, y):
        with gm:
            loss = F.mean((F.matmul(x, w) + b - y) ** 2)
            if read_inside:
                with exclude_from_trace():  # MegEngine users log so: no guard
                    logged.append(loss.item())
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    return step, w, b, logged


def numpy_sgd():
    """The same three steps in NumPy: losses and final parameters."""
    w, b, losses = W0.copy(), np.zeros(1, np.float32), []
    for x, y in zip(XS, YS):
        err = x @ w + b - y
        losses.append(float((err ** 2).mean()))
        w = w - 0.1 * (2 / err.size) * x.T @ err
        b = b - 0.1 * (2 / err.size) * err.sum(0)
    return losses, w, b


@pytest.mark.parametrize("symbolic", MODES)
def test_a_traced_training_step_matches_numpy_and_the_untraced_step(backend, symbolic):
    want_losses, want_w, want_b = numpy_sgd()
    eager, ew, eb, _ = linear_step()
    eager_losses = [eager(graphc.tensor(x), graphc.tensor(y)).item() for x, y in zip(XS, YS)]
    step, w, b, logged = linear_step(read_inside=not symbolic)
    f = trace(step, symbolic=symbolic)
    losses = [f(graphc.tensor(x), graphc.tensor(y)).item() for x, y in zip(XS, YS)]
    assert f.traces == 1
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    np.testing.assert_allclose(w.numpy(), want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), want_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.numpy(), ew.numpy(), rtol=1e-6, atol=1e-7)
    if not symbolic:  # the excluded read ran on every call and saw that call's loss
        np.testing.assert_allclose(logged, want_losses, rtol=1e-5)


def test_a_read_tensor_stored_outside_the_function_gets_each_calls_value():
    # loss = (w·x - 1)², SGD lr 0.1 from w = (1, 2), x = (1, 1): 4, 1.44, 0.5184 (by hand)
    w = graphc.Parameter([1., 2.])
    gm = GradManager().attach([w])
    opt = optim.SGD([w], lr=0.1)
    holder, logged = {}, []

    @trace
    def step(x):
        with gm:
            loss = ((w * x).sum() - 1) ** 2
            gm.backward(loss)
        with exclude_from_trace():
            logged.append(loss.item())
        opt.step().clear_grad()  # (lists the live tensors: the read one must stay listed)
        holder["loss"] = loss
        return x + 0

    stored = []
    for _ in range(3):
        step(graphc.tensor([1., 1.]))
        stored.append(holder["loss"].item())
    np.testing.assert_allclose(stored, [4., 1.44, 0.5184], rtol=1e-6)
    np.testing.assert_allclose(logged, stored, rtol=1e-6)


def test_decorator_and_class_forms():
    @trace
    def a(x):
        return x + 1

    @trace(symbolic=True)
    def b(x):
        return x + 2

    c = trace(lambda x: x + 3, capture_as_const=True)
    x = graphc.tensor([1., 2.])
    for f, k in ((a, 1), (b, 2), (c, 3)):
        assert isinstance(f, trace)
        np.testing.assert_array_equal(f(x).numpy(), [1 + k, 2 + k])
    assert (a.symbolic, b.symbolic, c.capture_as_const) == (False, True, True)


def test_non_symbolic_reads_return_the_arguments_values_and_steer_python():
    seen = []

    @trace
    def f(x):
        seen.append(x.numpy())
        return -x if (x.sum() > 0) else x * 10

    x = np.array([1., 2.], np.float32)
    np.testing.assert_array_equal(f(graphc.tensor(x)).numpy(), -x)
    np.testing.assert_array_equal(seen[0], x)
    np.testing.assert_array_equal(f(graphc.tensor(x)).numpy(), -x)  # replayed, same reads
    assert len(seen) == 2


def test_a_read_value_that_changes_raises_before_anything_runs():
    w = graphc.Parameter([0., 0.])

    @trace
    def f(x):
        if x.sum().item() > 0:
            w[...] = w + x
        return x * 2

    f(graphc.tensor([1., 2.]))
    f(graphc.tensor([2., 1.]))  # the read (the sum) is the same: replays
    np.testing.assert_array_equal(w.numpy(), [3., 3.])
    with pytest.raises(TraceError, match=r"^trace error because the value \S*f read with "
                                         r"\.item\(\) at test_tracing\.py:\d+ changed: the "
                                         r"first call read 3\.0, this call 5\.0"):
        f(graphc.tensor([4., 1.]))
    np.testing.assert_array_equal(w.numpy(), [3., 3.])  # the failed call changed nothing


def test_a_read_the_first_call_did_not_make_raises():
    read = [True]

    @trace
    def f(x):
        if read[0]:
            x.numpy()
        return x + 1

    f(graphc.tensor([1.]))
    read[0] = False
    with pytest.raises(TraceError, match=r"^trace error because \S*f read 0 value\(s\) where "
                                         r"its first call read 1 \(the first call read one "
                                         r"with \.numpy\(\) at test_tracing\.py:\d+\)"):
        f(graphc.tensor([1.]))


def test_without_host_runs_the_body_on_the_first_call_only():
    runs = []

    @trace(without_host=True)
    def f(x):
        runs.append(x.sum().item())  # a read: allowed, as in any non-symbolic trace
        return x * 2

    for v in (1., 2., 3.):
        np.testing.assert_array_equal(f(graphc.tensor([v])).numpy(), [2 * v])
    assert runs == [1.]


def test_boolean_mask_indexing_is_guarded_by_its_mask():
    @trace
    def f(x):
        return x[x > 0] * 2

    np.testing.assert_array_equal(f(graphc.tensor([1., -1., 2.])).numpy(), [2., 4.])
    np.testing.assert_array_equal(f(graphc.tensor([3., -5., 4.])).numpy(), [6., 8.])
    with pytest.raises(TraceError, match=r"read with a boolean mask or tensor index at "
                                         r"test_tracing\.py:\d+ changed: the first call read "
                                         r"\[True, False, True\], this call \[False, True, True\]"):
        f(graphc.tensor([-3., 5., 4.]))


def test_symbolic_traces_refuse_reads():
    @trace(symbolic=True)
    def f(x):
        return x * x.sum().item()

    with pytest.raises(TraceError, match=r"\.item\(\) at test_tracing\.py:\d+ needs the value"):
        f(graphc.tensor([1., 2.]))


def test_a_changed_op_sequence_raises_trace_error_with_its_reason():
    use_relu = [True]

    @trace
    def f(x):
        return F.relu(x) if use_relu[0] else F.sigmoid(x)

    x = graphc.tensor([-1., 1.])
    f(x)
    use_relu[0] = False
    with pytest.raises(TraceError, match=r"^trace error because \S*f took a different path "
                                         r"than on its first call: op \d+ was relu.*now "
                                         r"sigmoid"):
        f(x)


def test_user_exceptions_propagate_unchanged():
    calls = [0]
    boom = KeyError("boom")

    @trace
    def f(x):
        calls[0] += 1
        if calls[0] == 2:
            raise boom
        return x + 1

    f(graphc.tensor([1.]))
    with pytest.raises(KeyError) as caught:
        f(graphc.tensor([1.]))
    assert caught.value is boom
    np.testing.assert_array_equal(f(graphc.tensor([1.])).numpy(), [2.])  # still usable


@pytest.mark.parametrize("symbolic", MODES)
def test_exclude_from_trace_runs_on_every_call(symbolic):
    # MegEngine's test_exclude_from_trace: the excluded block changes per call.
    state = {"i": 0, "inside": None}

    @trace(symbolic=symbolic)
    def f(x):
        x = -x
        with exclude_from_trace():
            state["inside"] = is_tracing()
            if state["i"] % 2:
                x = -x
        assert is_tracing()
        return -x

    x = np.array([1., 2.], np.float32)
    for i in range(4):
        state["i"] = i
        np.testing.assert_array_equal(f(graphc.tensor(x)).numpy(), -x if i % 2 else x)
    assert state["inside"] is False and not is_tracing()


@pytest.mark.parametrize("symbolic", MODES)
@pytest.mark.parametrize("kind", ["tensor", "tuple", "list", "dict"])
def test_outputs_keep_their_container(symbolic, kind):
    @trace(symbolic=symbolic)
    def f(x):
        a, b = x + 1, x * 2
        return {"tensor": a, "tuple": (a, b), "list": [a, b], "dict": {"a": a, "b": b}}[kind]

    x = np.array([1., 2.], np.float32)
    for _ in range(2):
        out = f(graphc.tensor(x))
    leaves = {"tensor": lambda o: [o], "tuple": list, "list": list,
              "dict": lambda o: [o["a"], o["b"]]}[kind](out)
    assert type(out) is {"tensor": graphc.Tensor, "tuple": tuple, "list": list,
                         "dict": dict}[kind]
    for got, want in zip(leaves, [x + 1, x * 2]):
        np.testing.assert_array_equal(got.numpy(), want)


def test_capture_as_const_freezes_what_the_function_reads_and_needs_tensor_args():
    w = graphc.Parameter([1., 2.])

    @trace(capture_as_const=True)
    def f(x):
        return x * w

    np.testing.assert_array_equal(f(graphc.tensor([1., 1.])).numpy(), [1., 2.])
    w[...] = graphc.tensor([5., 5.])
    np.testing.assert_array_equal(f(graphc.tensor([1., 1.])).numpy(), [1., 2.])  # a constant
    with pytest.raises(TypeError, match="Only support tensor type args when "
                                        "capture_as_const is enabled"):
        f(np.ones(2, np.float32))


LOADER = """
import sys, numpy as np, graphc
fn = graphc.jit.load_function(sys.argv[1])
out = fn(a=np.load(sys.argv[2]), b=np.load(sys.argv[3]))
np.save(sys.argv[4], out["sum"]); np.save(sys.argv[5], out["scaled"])
"""


def test_dump_then_load_in_a_new_process_gives_the_same_bits(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    w = graphc.Parameter(RNG.standard_normal(3).astype(np.float32))

    @trace(symbolic=True, capture_as_const=True)
    def f(x, y):
        return x + y, F.exp(x) * w

    a, b = (RNG.standard_normal(3).astype(np.float32) for _ in range(2))
    s, scaled = f(graphc.tensor(a), graphc.tensor(b))
    result = f.dump(tmp_path / "f.graphc", arg_names=["a", "b"],
                    output_names=["sum", "scaled"])
    assert (result.inputs, result.outputs) == (["a", "b"], ["sum", "scaled"])
    # a, b, w, a + b, exp(a), exp(a) * w: MegEngine's count for a + b alone is 3
    assert result.nr_opr == 6 and result.tot_bytes == os.path.getsize(tmp_path / "f.graphc")
    assert result.tensor_value_bytes >= w.numpy().nbytes
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    names = ["f.graphc", "a.npy", "b.npy", "s.npy", "e.npy"]
    subprocess.run([sys.executable, "-c", LOADER, *[str(tmp_path / n) for n in names]],
                   env=dict(os.environ), check=True, capture_output=True, text=True)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), s.numpy())
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy"), scaled.numpy())
    np.testing.assert_allclose(s.numpy(), a + b, rtol=1e-6)


def test_dump_to_a_file_object_and_its_errors(tmp_path):
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return x * 3

    @trace(symbolic=True)
    def g(x):
        return x * 3

    x = graphc.tensor([1., 2.])
    f(x)
    g(x)
    buffer = io.BytesIO()
    f.dump(buffer)
    (tmp_path / "f.graphc").write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(load_function(tmp_path / "f.graphc")(np.ones(2, np.float32)),
                                  [3., 3.])
    with pytest.raises(ValueError, match="capture_as_const=True"):
        g.dump(tmp_path / "g.graphc")
    with pytest.raises(NotImplementedError, match="dump_format= has no meaning"):
        f.dump(tmp_path / "f2.graphc", dump_format="FBS")
    with pytest.raises(NotImplementedError, match="enable_nchw44= has no meaning"):
        f.dump(tmp_path / "f2.graphc", enable_nchw44=True)
    with pytest.raises(ValueError, match="arg_names must be 1 different str"):
        f.dump(tmp_path / "f2.graphc", arg_names=["a", "b"])
    f.dump(tmp_path / "f3.graphc", keep_opr_name=True, optimize_for_inference=False)


def test_dump_result_of_megengines_a_plus_b():
    # MegEngine's test_trace_dump: f(a, b) = a + b dumps 3 oprs, 2 inputs, 1 output
    @trace(symbolic=True, capture_as_const=True)
    def f(a, b):
        return a + b

    f(graphc.tensor([1.]), graphc.tensor([2.]))
    result = f.dump(io.BytesIO())
    assert (result.nr_opr, result.inputs, len(result.outputs)) == (3, ["a", "b"], 1)


def test_dump_refuses_a_function_without_outputs(tmp_path):
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return None

    f(graphc.tensor([1.]))
    with pytest.raises(ValueError, match="returns no Tensor"):
        f.dump(tmp_path / "f.graphc")


def test_keywords_for_features_graphc_lacks_are_refused_clearly():
    with pytest.raises(NotImplementedError, match="dtr_config= is not supported"):
        trace(lambda x: x, dtr_config=object())
    trace(lambda x: x, opt_level=3, symbolic_shape=False)  # tuning knobs: accepted


# ---- partial_trace: a part of a network, its forward and backward compiled --------------


def partial_step(wrap):
    """An eager GradManager + SGD step whose hidden layer is ``wrap(hidden)``; returns
    (step, w1, w2), the weights the same on every call."""
    rng = np.random.default_rng(7)
    w1 = graphc.Parameter(rng.standard_normal((3, 5)).astype(np.float32))
    w2 = graphc.Parameter(rng.standard_normal((5, 1)).astype(np.float32))
    gm = GradManager().attach([w1, w2])
    opt = optim.SGD([w1, w2], lr=0.05)

    def hidden(x, w):
        return F.relu(F.matmul(x, w)) * 0.5

    block = wrap(hidden)

    def step(x, y):
        with gm:
            loss = F.mean((F.matmul(block(x, w1), w2) - y) ** 2)
            gm.backward(loss)
        opt.step().clear_grad()
        return loss.numpy()

    return step, w1, w2


@pytest.mark.parametrize("wrap", [
    pytest.param(lambda f: partial_trace(f), id="partial_trace(f)"),
    pytest.param(lambda f: partial_trace(trace_gmcallback=True)(f), id="partial_trace()(f)"),
])
def test_a_partially_traced_block_trains_as_the_plain_function_does(backend, wrap):
    # MegEngine's partial_trace compiles a part of a network, forward and backward, used
    # inside an eager training step: the same losses and weights as without it.
    plain, pw1, pw2 = partial_step(lambda f: f)
    traced, tw1, tw2 = partial_step(wrap)
    for x, y in zip(XS, YS):
        assert traced(graphc.tensor(x), graphc.tensor(y)).tobytes() == \
            plain(graphc.tensor(x), graphc.tensor(y)).tobytes()
    assert tw1.numpy().tobytes() == pw1.numpy().tobytes()
    assert tw2.numpy().tobytes() == pw2.numpy().tobytes()


def test_partial_trace_refuses_what_it_cannot_do():
    with pytest.raises(AssertionError, match="without_host"):  # as MegEngine asserts
        partial_trace(lambda x: x, without_host=False)
    with pytest.raises(NotImplementedError, match="xla"):
        partial_trace(lambda x: x, backend="xla")
    with pytest.raises(TypeError, match="no_such_option"):
        partial_trace(lambda x: x, no_such_option=1)
