"""viz.capture(): a training step realized by opt.step() can still be drawn afterwards."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import graphc
import graphc.viz as viz
from graphc.ir import topo_order
from graphc.ir.state import current

from .conftest import ir_counts


def test_captured_step_survives_realization(stepped):
    nodes, edges = ir_counts(stepped.captured.output_nodes)
    assert stepped.loss._node.realized and not stepped.loss._node.inputs  # step forgot it
    # the whole step is still there, as a copy: forward, deferred gradients and update
    ops = Counter(n.op for n in topo_order(stepped.captured.output_nodes))
    assert {"linear": 2, "relu": 1, "cross_entropy": 1, "grad_of": 4, "sgd_step": 4,
            "momentum_buffer": 4}.items() <= ops.items()
    assert edges > nodes
    g = viz.stage_graph(stepped.captured, stage="built")
    assert (g.number_of_nodes(), g.number_of_edges()) == (nodes, edges)
    assert g.graph["name"] == "MLP training step"


def test_captured_step_has_forward_backward_and_update(stepped):
    g = viz.stage_graph(stepped.captured, stage="backward")
    phases = {}
    for _, d in g.nodes(data=True):
        if d["role"] == "op":
            phases.setdefault(d["phase"], []).append(d)
    assert set(phases) == {"forward", "backward", "update"}
    assert set(g.graph["clusters"]) == {"forward", "backward", "update"}
    # the update writes one new value per parameter and momentum buffer (SGD, momentum)
    params = {d["name"]: d for _, d in g.nodes(data=True) if d["role"] == "parameter"}
    assert sorted(params) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    updated = [d for d in phases["update"] if d["output"]]
    assert len(updated) == 2 * len(params), [(d["op"], d["location"], d["shape"])
                                             for d in updated]
    assert all(d["op"] in ("sub", "add") for d in updated)
    # momentum * buffer reads no gradient but only feeds the update: update, not forward
    assert not [d for d in phases["forward"] if d["op"] == "mul"
                and d["shape"] == params["0.weight"]["shape"]]


def test_captured_step_matches_what_it_computed(stepped):
    """The copy computes what the realization did: the parameters after the step."""
    from graphc import interp

    outs = stepped.captured.output_nodes
    values = interp.run(outs)
    for p in stepped.model.parameters():  # each new parameter is a captured output
        assert any(values[o.uid].shape == p.shape and np.allclose(values[o.uid], p.numpy())
                   for o in outs), p


def test_each_realization_is_recorded_and_the_hook_removed():
    x = graphc.tensor([1., 2.])
    sinks = list(current().captures)
    with viz.capture("two") as cap:
        (x + 1).numpy()
        (x * 3).numpy()
    assert current().captures == sinks
    assert [g.name for g in cap.graphs] == ["two", "two (2)"]
    assert [n.op for n in cap.output_nodes] == ["mul"]  # the last one
    assert [n.op for n in cap.graphs[0].output_nodes] == ["add"]
    assert viz.stage_graph(cap.graphs[0], "built").graph["name"] == "two"


def test_nothing_captured_is_a_clear_error():
    with viz.capture() as cap:
        pass
    with pytest.raises(RuntimeError, match="nothing was realized"):
        viz.stage_graph(cap)
