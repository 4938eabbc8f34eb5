"""In-place updates: a traced optimizer step computes each weight's new value into the
buffer of its old one when nothing else can see the old value, and never otherwise
(graphc/jit/plan.py donates, graphc/runtime/compiler.py decides which steps can)."""

import numpy as np
import pytest
from graphc.kernels.cpu import blas

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.ir import buffer_node, structural_key
from graphc.ops import apply
from graphc.optimizer import SGD
from graphc.runtime.compiler import compile_outputs
from tests.jit.training import X, Y, address, training_step

pytestmark = pytest.mark.skipif(not blas.available(np.float32),
                                reason="NumPy's BLAS exposes no cblas gemm on this machine")


@pytest.fixture(autouse=True)
def compiled_backend(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def make(momentum=0.0, **options):
    graphc.random.seed(0)
    net = M.Sequential(M.Linear(5, 4), M.ReLU(), M.Linear(4, 3))
    opt = SGD(net.parameters(), lr=0.1, momentum=momentum, **options)
    return net, opt, graphc.jit(training_step(net, opt, F.cross_entropy))


@pytest.mark.parametrize("momentum, options", [
    (0.0, {}), (0.9, {}), (0.9, {"nesterov": True, "weight_decay": 0.01})])
def test_the_accumulated_update_is_computed_in_its_own_buffer(monkeypatch, momentum,
                                                              options):
    """Plain SGD accumulates into the weight; with momentum into the momentum buffer, and
    the weight's own update is an elementwise kernel writing over the weight (with
    weight decay the new buffer is computed from the weight too: each output is still
    written over its own state)."""
    net, opt, step = make(momentum, **options)
    step(X, Y)
    step(X, Y)
    weight = net[0].weight

    def updated():
        return [weight] + ([opt.state[weight]["momentum_buffer"]] if momentum else [])

    before = [address(t) for t in updated()]
    losses = [step(X, Y).item() for _ in range(3)]
    assert [address(t) for t in updated()] == before
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")  # the same run on the reference
    ref_net, _, ref_step = make(momentum, **options)
    want = [ref_step(X, Y).item() for _ in range(5)][2:]
    np.testing.assert_allclose(losses, want, rtol=1e-5)
    for got, ref in zip(net.parameters(), ref_net.parameters()):
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


HOLDERS = {
    "np.asarray": lambda w: np.asarray(w),  # the buffer itself
    "detach": lambda w: w.detach(),  # a new Tensor on the same buffer
    "pending": lambda w: w * 1.0,  # a pending Tensor built on the old value
    "view": lambda w: realized(w.T),  # a realized view of the buffer
    "alias": lambda w: graphc.Tensor(w),  # another Tensor on the same node
    "same-dtype astype": lambda w: w.astype(w.dtype),  # an op that returns its input
}


def realized(t):
    """``t``, computed (a Tensor holding its value: here, a view of another's buffer)."""
    graphc.realize(t)
    return t


@pytest.mark.parametrize("holder", HOLDERS)
def test_a_value_someone_still_holds_is_never_overwritten(holder):
    net, _, step = make()
    step(X, Y)
    step(X, Y)
    weight = net[0].weight
    old = weight.numpy()
    held = HOLDERS[holder](weight)
    step(X, Y)
    assert not np.array_equal(weight.numpy(), old)  # the step did update the weight
    value = np.asarray(held) if holder == "np.asarray" else held.numpy()
    np.testing.assert_array_equal(value.T if holder == "view" else value, old)


def _program(outputs):
    key, args = structural_key(outputs)
    return compile_outputs(outputs, args).program, args


def test_an_argument_read_later_or_returned_as_a_view_is_not_updated_in_place():
    rng = np.random.default_rng(0)
    c = buffer_node(rng.standard_normal((3, 4)).astype(np.float32), "cpux")
    a = buffer_node(rng.standard_normal((3, 5)).astype(np.float32), "cpux")
    b = buffer_node(rng.standard_normal((5, 4)).astype(np.float32), "cpux")
    update = apply("sub", [c, apply("matmul", [a, b])])
    alone, args = _program([update])
    pairs = list(alone.in_place)
    assert len(pairs) == 1
    values = [n.buffer.copy() for n in args]
    out = alone.run(values, donate=pairs)[0]
    (k, _), = pairs
    assert out is values[k]  # computed into the argument's buffer
    np.testing.assert_allclose(out, c.buffer - a.buffer @ b.buffer, rtol=1e-5)
    fresh = alone.run([n.buffer.copy() for n in args])[0]  # no donation: a new buffer
    np.testing.assert_allclose(fresh, out, rtol=1e-6)
    expected = {"transpose": c.buffer.T, "exp": np.exp(c.buffer)}
    for also in (apply("transpose", [c], perm=(1, 0)), apply("exp", [c])):
        program, args = _program([update, also])
        values = [n.buffer.copy() for n in args]
        got = program.run(values, donate=[(i, 0) for i in range(len(args))])
        if also.op == "transpose":  # an output views the old c: never overwritten
            assert all(got[0] is not v for v in values)
        np.testing.assert_allclose(got[0], c.buffer - a.buffer @ b.buffer, rtol=1e-5)
        np.testing.assert_allclose(got[1], expected[also.op], rtol=1e-6)


def test_a_trace_that_also_clears_earlier_gradients_updates_in_place_and_is_right(monkeypatch):
    """Gradients left from a lazy backward before the first trace are written (cleared)
    by the traced step too, before its updates: each update is still matched with its
    own output (a regression: the writes were miscounted once some were None)."""

    def run():
        net, opt, step = make(momentum=0.9)
        with GradManager().attach(net.parameters()) as gm:
            gm.backward(F.cross_entropy(net(graphc.tensor(X)), graphc.tensor(Y)))
        return net, [step(X, Y).item() for _ in range(4)]

    net, losses = run()
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")
    ref_net, want = run()
    np.testing.assert_allclose(losses, want, rtol=1e-5)
    for got, ref in zip(net.parameters(), ref_net.parameters()):
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
