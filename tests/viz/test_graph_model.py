"""Stage graphs: the IR's nodes and edges, roles, phases, kernels as explain reports them."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.backends.cpu import cpu_backend
from graphc.ir import Graph, buffer_node, is_frontier, placeholder_node
from graphc.ops import apply
from graphc.passes import run_pipeline
from graphc.viz import STAGES, stage_graph

from .conftest import ir_counts, make_step, mlp_parts


def _ops(g) -> list[str]:
    return sorted(d["op"] for _, d in g.nodes(data=True))


def test_built_stage_is_the_ir(step):
    outputs = [step.loss._node] + [t._node for t in step.grads]
    g = stage_graph([step.loss, *step.grads], stage="built")
    assert (g.number_of_nodes(), g.number_of_edges()) == ir_counts(outputs)
    assert set(g) == {f"n{n.uid}" for n in Graph(tuple(outputs)).nodes()}
    for n in Graph(tuple(outputs)).nodes():  # every input use is one edge, keyed by position
        if not is_frontier(n):
            got = sorted((u, k) for u, _, k in g.in_edges(f"n{n.uid}", keys=True))
            assert got == sorted((f"n{i.uid}", k) for k, i in enumerate(n.inputs))
    assert g.graph["outputs"] == [f"n{n.uid}" for n in outputs]


def test_x_times_x_keeps_both_edges():
    x = graphc.tensor([1., 2.])
    g = stage_graph(x * x, stage="built")
    (mul,) = [n for n, d in g.nodes(data=True) if d["op"] == "mul"]
    assert sorted(k for _, _, k in g.in_edges(mul, keys=True)) == [0, 1]


def test_optimized_stage_is_the_pipeline_output(step):
    outputs = [step.loss._node] + [t._node for t in step.grads]
    optimized = run_pipeline(Graph(tuple(outputs)), capabilities=cpu_backend().capabilities)
    g = stage_graph([step.loss, *step.grads], stage="optimized")
    assert (g.number_of_nodes(), g.number_of_edges()) == ir_counts(list(optimized.outputs))
    assert _ops(g) == sorted(n.op for n in optimized.nodes())


def test_labels_show_op_shape_dtype_and_roles(step):
    g = stage_graph([step.loss, *step.grads], stage="built", names=step.model)
    roles = {}
    for _, d in g.nodes(data=True):
        roles.setdefault(d["role"], []).append(d)
        assert f"{d['dtype']}{d['shape']}" in d["label"]
    names = sorted(d["name"] for d in roles["parameter"])
    assert names == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert all(d["label"].startswith(d["name"] + "\n") for d in roles["parameter"])
    assert {d["dtype"] for d in roles["input"]} == {"float32", "int32"}  # x and the labels
    assert all(d["label"].startswith("const ") for d in roles["constant"])
    linears = [d for d in roles["op"] if d["op"] == "linear"]  # a composite op, as built
    assert len(linears) == 2 and all(d["label"].startswith("linear\n") for d in linears)
    assert [d["output"] for d in roles["op"]].count(True) == 1 + len(step.grads)


def test_parameters_found_without_names(step):
    g = stage_graph(step.loss, stage="built")
    params = sorted(d["shape"] for _, d in g.nodes(data=True) if d["role"] == "parameter")
    assert params == sorted(list(p.shape) for p in step.model.parameters())


def test_nodes_record_location_source_and_scope(step):
    g = stage_graph(step.loss, stage="built")
    linear = [d for _, d in g.nodes(data=True) if d["op"] == "linear"]
    assert {d["scope"] for d in linear} == {"0", "2"}
    # the expansion of the composite ``linear`` keeps its scope, location and source
    matmuls = [d for _, d in stage_graph(step.loss, stage="backward").nodes(data=True)
               if d["op"] == "matmul"]
    assert {d["scope"] for d in matmuls} == {"0", "2"}
    linear += matmuls
    assert all(d["location"].startswith("conftest.py:") for d in linear)
    assert all(d["source"] == "loss = F.cross_entropy(model(x), y)" for d in linear)


def test_backward_stage_has_the_gradient_nodes(step):
    outputs = [step.loss._node] + [t._node for t in step.grads]
    assert {n.op for n in outputs[1:]} == {"grad_of"}  # deferred by GradManager.backward
    lowered = run_pipeline(Graph(tuple(outputs)), ("lower",))
    gradient = {f"n{n.uid}" for n in lowered.nodes() if n.meta.from_autodiff and not n.is_leaf}
    g = stage_graph([step.loss, *step.grads], stage="backward")
    assert len(gradient) > 20
    assert {n for n, d in g.nodes(data=True) if d["cluster"] == "backward"} == gradient
    forward = {n for n, d in g.nodes(data=True) if d["cluster"] == "forward"}
    loss = g.graph["outputs"][0]  # the lowered loss (cross_entropy is a composite op)
    assert loss in forward and not forward & gradient
    assert set(g.graph["clusters"]) == {"forward", "backward"}
    assert all(d["cluster"] is None for _, d in g.nodes(data=True) if d["role"] != "op")


def test_fused_clusters_match_explain(step):
    tensors = [step.loss, *step.grads]
    kernels = graphc.explain(*tensors).kernels
    g = stage_graph(tensors, stage="fused")
    clusters = g.graph["clusters"]
    assert list(clusters) == [k.name for k in kernels]
    for k in kernels:
        info = clusters[k.name]
        assert info["ops"] == k.ops and info["source"] == k.source
        assert info["label"] == f"{k.name} · {len(k.ops)} op{'s' if len(k.ops) > 1 else ''}"
        members = [d["op"] for _, d in g.nodes(data=True) if d["kernel"] == k.name]
        assert sorted(members) == sorted(k.ops)
    # every op node is in a kernel or is a free view (a movement read in place)
    for _, d in g.nodes(data=True):
        if d["role"] == "op":
            assert (d["kernel"] is None) == d["view"], d


def test_function_stand_in_with_placeholders():
    """The define-then-run interface: input_nodes, output_nodes (as built), name."""
    class StandIn:
        def __init__(self) -> None:
            x = placeholder_node((2, 3), np.float32, "cpux", "images")
            w = buffer_node(np.ones((3, 4), np.float32), "cpux")
            y = apply("relu", [apply("matmul", [x, w])])
            self.input_nodes, self.output_nodes, self.name = [x], [y], "classify"

    fn = StandIn()
    for stage in STAGES:
        g = stage_graph(fn, stage=stage)
        roles = {d["role"]: d for _, d in g.nodes(data=True)}
        assert g.graph["name"] == "classify"
        assert roles["input"]["name"] == "images" and roles["input"]["label"].startswith("images")
        assert roles["parameter"]["op"] == "buffer"  # a function's buffers are its weights
    fused = stage_graph(fn, stage="fused")
    assert [c["ops"] for c in fused.graph["clusters"].values()] == [["matmul"], ["relu"]]


def test_compiled_function_clusters_match_its_explain():
    import graphc.functional as F
    import graphc.module as M

    model = M.Sequential(M.Linear(4, 8), M.ReLU(), M.Linear(8, 3))
    x = graphc.placeholder((5, 4), name="x")
    fn = graphc.function([x], F.softmax(model(x), axis=1), name="classify")
    g = stage_graph(fn, stage="fused", names=model)
    kernels = fn.explain().kernels
    assert list(g.graph["clusters"]) == [k.name for k in kernels]
    assert [c["ops"] for c in g.graph["clusters"].values()] == [k.ops for k in kernels]
    roles = sorted((d["role"], d["name"]) for _, d in g.nodes(data=True) if d["role"] != "op")
    assert roles == [("input", "x"), ("parameter", "0.bias"), ("parameter", "0.weight"),
                     ("parameter", "2.bias"), ("parameter", "2.weight")]
    (out,) = g.graph["outputs"]
    assert g.nodes[out]["name"] == "output" and g.graph["name"] == "classify"


def test_jitted_training_step():
    import graphc.functional as F

    model, gm, opt = mlp_parts()

    @graphc.jit
    def train_step(x, y):
        with gm:
            loss = F.cross_entropy(model(x), y)
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    train_step(np.ones((5, 4), np.float32), np.array([0, 1, 2, 0, 1], np.int32))
    g = stage_graph(train_step, stage="backward", names=model)
    assert set(g.graph["clusters"]) == {"forward", "backward", "update"}
    names = sorted(d["name"] for _, d in g.nodes(data=True) if d["role"] == "parameter")
    assert [n for n in names if n] == ["0.bias", "0.weight", "2.bias", "2.weight"]
    inputs = sorted(d["name"] for _, d in g.nodes(data=True) if d["op"] == "placeholder")
    assert inputs == ["x", "y"]
    fused = stage_graph(train_step, stage="fused")
    assert list(fused.graph["clusters"]) == [k.name for k in train_step.explain().kernels]


def test_realized_outputs_are_drawn_as_inputs():
    t = graphc.tensor([1., 2.]) * 2
    t.numpy()
    for stage in STAGES:
        g = stage_graph(t, stage=stage)
        assert [d["role"] for _, d in g.nodes(data=True)] == ["input"]
        assert g.graph["clusters"] == {}


def test_long_chain_is_iterative():
    x = buffer_node(np.ones(2, np.float32), "cpux")
    node = x
    for _ in range(5_000):
        node = apply("neg", [node])
    g = stage_graph(type("Fn", (), {"output_nodes": [node]})(), stage="built")
    assert (g.number_of_nodes(), g.number_of_edges()) == (5_001, 5_000)


def test_bad_stage_or_grouping_is_a_clear_error():
    x = graphc.tensor([1.])
    with pytest.raises(ValueError, match="unknown stage 'fusion'"):
        stage_graph(x, stage="fusion")
    with pytest.raises(ValueError, match="group_by must be None or 'module', got 'layer'"):
        stage_graph(x, group_by="layer")


def test_a_constant_built_first_by_autodiff_does_not_move_the_forward():
    """Hash-consing gives ``broadcast_to(0)`` the metadata of whoever built it first. Built
    first by autodiff (another graph's backward), it must not pull the loss, which reads
    it through cross-entropy's select, into the update phase (found as an order-dependent
    failure of the tests above)."""
    from graphc.ir import autodiff_marker, const_node

    with autodiff_marker():
        zero = apply("broadcast_to", [const_node(0, np.float32, "xpux")], shape=(5, 3))
    step = make_step()  # its (5, 3) logits select with where(mask, logp, 0)
    g = stage_graph([step.loss, *step.grads], stage="backward")
    assert f"n{zero.uid}" in g  # the shared node is in this graph
    assert g.nodes[g.graph["outputs"][0]]["phase"] == "forward"  # the (lowered) loss
