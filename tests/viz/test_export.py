"""export(): formats by suffix, node-link JSON that round-trips, atomic writes."""

from __future__ import annotations

import json

import networkx as nx
import pytest

import graphc
from graphc.backends.cpu import cpu_backend
from graphc.ir import Graph
from graphc.passes import run_pipeline
from graphc.viz import FORMATS, STAGES, export, stage_graph

from .conftest import ir_counts


@pytest.mark.parametrize("stage", STAGES)
def test_json_round_trips_with_the_ir_counts(step, tmp_path, stage):
    tensors = [step.loss, *step.grads]
    outputs = [t._node for t in tensors]
    if stage in ("optimized", "fused"):
        optimized = run_pipeline(Graph(tuple(outputs)), capabilities=cpu_backend().capabilities)
        outputs = list(optimized.outputs)
    if stage == "backward":  # deferred gradients drawn lowered
        outputs = list(run_pipeline(Graph(tuple(outputs)), ("lower",)).outputs)
    path = export(tensors, tmp_path / "g.json", stage=stage)
    doc = json.loads(path.read_text())
    assert doc["graph"]["schema"] == "graphc.viz/1" and doc["graph"]["stage"] == stage
    g = nx.node_link_graph(doc, edges="edges")
    assert isinstance(g, nx.MultiDiGraph)
    assert (g.number_of_nodes(), g.number_of_edges()) == ir_counts(outputs)
    for n in Graph(tuple(outputs)).nodes():
        d = g.nodes[f"n{n.uid}"]
        assert (d["uid"], d["op"], d["shape"], d["dtype"]) == (
            n.uid, n.op, list(n.type.shape), n.type.dtype.name)
        assert d["attrs"] == json.loads(json.dumps(dict(n.attrs)))
    want = stage_graph(tensors, stage=stage)
    assert set(g) == set(want)
    for n, d in want.nodes(data=True):  # every attribute survives (tuples become lists)
        assert json.loads(json.dumps(d)) == g.nodes[n]


def test_json_is_plain_json_for_nan_constants(tmp_path):
    t = graphc.tensor([1., 2.]) + float("nan")
    text = export(t, tmp_path / "g.json", stage="built").read_text()
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert "nan" in [d.get("value") for d in doc["nodes"]]


def test_format_follows_suffix_or_argument(tmp_path):
    t = graphc.tensor([1., 2.]) * 3
    heads = {"dot": b"digraph", "svg": b"<?xml", "png": b"\x89PNG", "json": b"{",
             "html": b"<!DOCTYPE html>"}
    assert set(heads) == set(FORMATS)
    for fmt, head in heads.items():
        assert export(t, tmp_path / f"g.{fmt.upper()}").read_bytes().startswith(head)
        assert export(t, tmp_path / f"{fmt}.txt", format=fmt).read_bytes().startswith(head)


def test_unknown_suffix_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"format of '.*g\.pdf'.*test_export.py:\d+"):
        export(graphc.tensor([1.]), tmp_path / "g.pdf")


def test_writes_are_atomic_and_replace(tmp_path):
    path = tmp_path / "sub" / "g.dot"
    export(graphc.tensor([1.]) + 1, path, stage="built")
    first = path.read_text()
    export(graphc.tensor([1.]) * 2, path, stage="built")
    assert path.read_text() != first and "mul" in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["g.dot"]  # no temporary left over


def test_failed_export_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="unknown stage"):
        export(graphc.tensor([1.]), tmp_path / "g.dot", stage="nope")
    assert list(tmp_path.iterdir()) == []
