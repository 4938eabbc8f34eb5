"""group_by="module": one node per module scope (per cluster), edges between groups."""

from __future__ import annotations

from collections import Counter

import graphc
from graphc.viz import stage_graph
from graphc.viz.grouping import group_by_module


def test_groups_collapse_each_module_scope(step):
    tensors = [step.loss, *step.grads]
    flat = stage_graph(tensors, stage="built")
    g = stage_graph(tensors, stage="built", group_by="module")
    assert g.graph["group_by"] == "module"
    scoped = Counter(d["scope"] for _, d in flat.nodes(data=True)
                     if d["role"] == "op" and d["scope"])
    groups = {d["scope"]: d for _, d in g.nodes(data=True) if d["role"] == "module"}
    assert set(groups) == set(scoped) == {"0", "1", "2"}  # Linear, ReLU, Linear
    for scope, d in groups.items():
        assert len(d["members"]) == scoped[scope] and d["label"].startswith(f"{scope}\n")
        assert sorted(d["ops"]) == sorted(flat.nodes[m]["op"] for m in d["members"])
    assert g.number_of_nodes() == flat.number_of_nodes() - sum(scoped.values()) + len(scoped)
    # every edge of the flat graph is inside a group or represented between groups
    group_of = {m: gid for gid, d in g.nodes(data=True) for m in d.get("members", ())}
    between = Counter()
    for u, v in flat.edges():
        gu, gv = group_of.get(u, u), group_of.get(v, v)
        if gu != gv:
            between[(gu, gv)] += 1
    merged = Counter()
    for u, v, d in g.edges(data=True):
        merged[(u, v)] += d.get("count", 1)
    assert merged == between


def test_fused_groups_stay_inside_their_kernel(step):
    flat = stage_graph([step.loss, *step.grads], stage="fused")
    g = group_by_module(flat)
    for _, d in g.nodes(data=True):
        if d["role"] == "module":
            assert {flat.nodes[m]["kernel"] for m in d["members"]} == {d["kernel"]}
            assert d["cluster"] == d["kernel"]
    assert g.graph["clusters"] == flat.graph["clusters"]


def test_outputs_map_to_their_group(step):
    logits = step.model(graphc.tensor([[1., 2., 3., 4.]]))
    g = stage_graph(logits, stage="built", group_by="module")
    (out,) = g.graph["outputs"]
    assert out == "module:2" and g.nodes[out]["output"]
