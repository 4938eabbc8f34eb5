"""Composite ops (graphc/functional/composite.py): one node while the graph is built, the
primitive expansion once lowered. Every expected value comes from the same function
built directly from primitives (``.expand``), NumPy, or finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import interp
from graphc.autodiff import GradManager
from graphc.backends.cpu import cpu_backend
from graphc.functional.composite import composite, expansion
from graphc.ir import Graph, ShapeError, topo_order
from graphc.optimizer import SGD
from graphc.passes import run_pipeline

from ..autodiff.gradcheck import check_grad

RNG = np.random.default_rng(0)


@pytest.fixture(params=["interp", "compiled"])
def backend(request, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", request.param)
    return request.param


@composite("test_softplus_gate")
def softplus_gate(x, gate, *, beta):
    """A few primitives with a static attribute and a reduction."""
    return F.log1p(F.exp(x * beta)).sum(axis=1) / beta * F.sigmoid(gate)


@composite("test_outer")
def outer(x, y):
    """A composite built from another composite (``linear``)."""
    return F.linear(x, y) * 2.0


def _arrays(*shapes):
    return [RNG.standard_normal(s).astype(np.float32) for s in shapes]


def test_a_call_builds_one_node_whose_value_is_the_expansion(backend):
    x, gate = _arrays((3, 4), (3,))
    out = softplus_gate(graphc.tensor(x), graphc.tensor(gate), beta=2.0)
    assert out._node.op == "test_softplus_gate" and len(out._node.inputs) == 2
    assert dict(out._node.attrs) == {"beta": 2.0}
    want = np.log1p(np.exp(2 * x)).sum(1) / 2 / (1 + np.exp(-gate))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5)


def test_the_lower_pass_expands_nested_composites_to_primitives():
    x, y = (graphc.tensor(a) for a in _arrays((2, 3), (4, 3)))
    out = outer(x, y)
    lowered = run_pipeline(Graph((out._node,)), ("lower",))
    ops = {n.op for n in lowered.nodes() if n.inputs}
    assert "test_outer" not in ops and "linear" not in ops and "matmul" in ops
    np.testing.assert_allclose(out.numpy(), 2 * x.numpy() @ y.numpy().T, rtol=1e-5)


def test_the_interpreter_evaluates_a_composite_without_changing_the_graph():
    x, gate = (graphc.tensor(a) for a in _arrays((2, 5), (2,)))
    out = softplus_gate(x, gate, beta=0.5)
    direct = softplus_gate.expand(x, gate, beta=0.5)
    got = interp.run([out._node])[out._node.uid]
    np.testing.assert_array_equal(got, interp.run([direct._node])[direct._node.uid])
    assert out._node.op == "test_softplus_gate"  # evaluated through its reference


def test_gradients_match_finite_differences():
    check_grad(lambda x, g: softplus_gate(x, g, beta=1.5), *_arrays((3, 4), (3,)))
    check_grad(lambda x, w, b: F.linear(x, w, b), *_arrays((2, 3), (4, 3), (4,)))
    labels = graphc.tensor(np.array([2, 0, 1], np.int32))
    check_grad(lambda p: F.cross_entropy(p, labels, label_smooth=0.1), *_arrays((3, 3)))


def test_a_repeated_input_gets_its_gradient_once():
    x = graphc.tensor(_arrays((3, 3))[0])
    g_composite = graphc.grad(F.linear(x, x).sum(), x).numpy()
    g_direct = graphc.grad(F.nn._linear.expand(x, x).sum(), x).numpy()
    np.testing.assert_allclose(g_composite, g_direct, rtol=1e-6)


def test_an_input_computed_from_another_input_is_not_counted_twice():
    """d/dw of linear(relu(w), w): the composite's rule gives partial derivatives; the
    path through relu is the outer graph's to add, once."""
    w = graphc.tensor(_arrays((3, 3))[0])

    def total(build):
        return graphc.grad(build(F.relu(w), w).sum(), w).numpy()

    np.testing.assert_allclose(total(F.linear), total(F.nn._linear.expand), rtol=1e-6)


def test_second_order_through_a_composite():
    w = graphc.tensor(np.array([[0.5, -1.0], [2.0, 0.25]], np.float32))
    x = graphc.tensor(np.array([[1.0, 2.0]], np.float32))

    def loss(build):
        (gw,) = [graphc.grad((build(x, w) ** 3).sum(), w)]
        return graphc.grad((gw * gw).sum(), w).numpy()

    np.testing.assert_allclose(loss(F.linear), loss(F.nn._linear.expand), rtol=1e-5)


def test_inference_errors_name_the_composite_the_primitive_and_the_line_once():
    x, w = graphc.tensor(np.ones((2, 3), np.float32)), graphc.tensor(np.ones((4, 5), np.float32))
    with pytest.raises(ShapeError) as err:
        F.linear(x, w)
    message = str(err.value)
    assert message.startswith("linear: matmul: cannot multiply (2, 3) by (4, 5)")
    assert message.count("test_composite.py:") == 1


def test_the_expansion_keeps_the_callers_metadata_after_a_backward():
    """Differentiating a composite must not build its forward expansion as autodiff
    nodes (a replayed backward once did, and drew the loss in the wrong phase)."""
    x, w = (graphc.tensor(a) for a in _arrays((2, 3), (4, 3)))
    for _ in range(2):
        out = F.linear(x, w)
        graphc.grad(out.sum(), w)
    assert not any(n.meta.from_autodiff for n in topo_order([expansion(out._node)]))


def test_a_lazy_mlp_training_step_builds_few_nodes(monkeypatch):
    """The per-step Python cost is per node: a linear layer, the loss and each SGD
    update are one node each (20 nodes were ~60 before composite ops)."""
    from graphc.ir import node as node_module

    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    model = graphc.module.Sequential(graphc.module.Linear(6, 5), graphc.module.ReLU(),
                                     graphc.module.Linear(5, 3))
    gm, opt = GradManager().attach(model.parameters()), SGD(model.parameters(), lr=0.1)
    x, y = np.ones((4, 6), np.float32), np.array([0, 1, 2, 0], np.int32)
    built = []
    original = node_module.Node.__init__

    def counting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self.op)

    for step in range(5):
        if step == 4:  # compiled: the step's Program is found by key
            node_module.Node.__init__ = counting
        try:
            with gm:
                gm.backward(F.cross_entropy(model(graphc.tensor(x)), graphc.tensor(y)))
            opt.step().clear_grad()
        finally:
            node_module.Node.__init__ = original
    # buffers: the batch, the labels, the step counter (the leaves realized values are
    # released to are made by ir.node.released_leaf, without Node.__init__)
    assert sorted(built) == sorted(["buffer"] * 3 + ["linear"] * 2 + ["relu", "cross_entropy"]
                                   + ["grad_of"] * 4 + ["sgd_step"] * 4), built


def test_a_data_error_inside_a_composite_names_the_inner_op_and_the_line_once(backend):
    import inspect

    from graphc.ir import OpError

    logits = graphc.tensor(np.zeros((2, 3), np.float32))
    line = inspect.currentframe().f_lineno + 1
    loss = F.cross_entropy(logits, graphc.tensor(np.array([0, 5], np.int32)))
    with pytest.raises(OpError) as err:
        loss.numpy()
    message = str(err.value)
    assert "check_index: label 5 is out of bounds for axis 1 with size 3" in message
    assert message.count("test_composite.py:") == 1
    assert f"test_composite.py:{line}" in message


def test_batch_norm_is_composite_and_its_statistics_are_computed_once():
    """Output and running statistics are three composite nodes; once optimized, the
    batch mean and variance they each recompute are the same nodes (two reductions in
    all), and the values match the functions built directly."""
    from graphc.functional import normalization as N

    x = graphc.tensor(RNG.standard_normal((4, 3, 5, 5)).astype(np.float32))
    w, b = graphc.tensor(np.arange(1, 4, dtype=np.float32)), graphc.tensor(np.ones(3, np.float32))
    rm, rv = graphc.tensor(np.zeros(3, np.float32)), graphc.tensor(np.ones(3, np.float32))
    out, new_mean, new_var = F.batch_norm(x, rm, rv, w, b, training=True, inplace=False)
    assert [t._node.op for t in (out, new_mean, new_var)] == [
        "batch_norm_train", "batch_norm_running_mean", "batch_norm_running_var"]
    flags = dict(has_weight=True, has_bias=True, eps=1e-5)
    direct = (N._batch_norm_train.expand(x, w, b, **flags),
              N._running_mean.expand(rm, x, momentum=0.9),
              N._running_var.expand(rv, x, momentum=0.9))

    def reductions(tensors):
        graph = run_pipeline(Graph(tuple(t._node for t in tensors)),
                             capabilities=cpu_backend().capabilities)
        return sum(n.op == "sum" for n in graph.nodes())

    assert reductions((out, new_mean, new_var)) == 2  # the mean, the variance
    for got, want in zip((out, new_mean, new_var), direct):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_realized_composite_keeps_no_expansion_and_so_not_its_inputs(backend):
    """Lowering expands a composite over its inputs; once the result is realized (its
    Tensor released to a leaf) the node and its expansion go, or they would keep the
    inputs, say a parameter's old value, alive for as long as the result lives."""
    import gc
    import weakref

    from graphc.ops import composite as composite_module

    x = graphc.tensor(RNG.standard_normal((64, 80)).astype(np.float32))
    gate = graphc.tensor(RNG.standard_normal(64).astype(np.float32))
    watched = weakref.ref(x._node.buffer)
    out = softplus_gate(x, gate, beta=2.0)
    want = softplus_gate.expand(x, gate, beta=2.0).numpy()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5)
    assert out._node.op == "buffer" and not any(
        n.op == "softplus_gate" for n in composite_module._expanded)
    del x, gate
    gc.collect()
    assert watched() is None  # `out` alone keeps nothing of what it was computed from
