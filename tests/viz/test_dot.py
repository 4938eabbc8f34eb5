"""DOT text: Graphviz parses it back (``dot -Tcanon``) with every node, edge and cluster."""

from __future__ import annotations

import re
import subprocess

import pytest

import graphc
from graphc.viz import STAGES, stage_graph, to_dot
from graphc.viz.dot import ROLE_STYLE, quote


def canon(text: str) -> str:
    """Graphviz's canonical form of DOT text (fails the test if dot rejects it)."""
    done = subprocess.run(["dot", "-Tcanon"], input=text, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "Error" not in done.stderr, done.stderr
    return done.stdout


def parsed(text: str) -> tuple[set[str], int, dict[str, set[str]]]:
    """Node ids, edge count and cluster → node ids of canonical DOT."""
    nodes, edges, clusters, current = set(), 0, {}, None
    for line in text.splitlines():
        line = line.strip()
        if m := re.match(r'subgraph "?cluster_([^"\s{]+)"? \{', line):
            current = m.group(1)
            clusters[current] = set()
        elif line == "}":
            current = None
        elif re.match(r'"?[\w:.-]+"?\s*->', line):
            edges += 1
        elif m := re.match(r'"?([\w:.-]+)"?\t\[', line):
            nodes.add(m.group(1))
            if current is not None:
                clusters[current].add(m.group(1))
    return nodes, edges, clusters


@pytest.mark.parametrize("stage", STAGES)
def test_dot_parses_back_with_every_node_and_edge(step, stage):
    g = stage_graph([step.loss, *step.grads], stage=stage)
    nodes, edges, clusters = parsed(canon(to_dot(g)))
    assert nodes == set(g) and edges == g.number_of_edges()
    assert set(clusters) == set(g.graph["clusters"])
    for name, members in clusters.items():
        assert members == {n for n, d in g.nodes(data=True) if d["cluster"] == name}


def test_grouped_dot_parses_back(step):
    g = stage_graph([step.loss, *step.grads], stage="fused", group_by="module")
    nodes, edges, _ = parsed(canon(to_dot(g)))
    assert nodes == set(g) and edges == g.number_of_edges()


def test_quoting_survives_graphviz():
    for text in ['say "hi"', "back\\slash", "two\nlines", "{braces} [and] <angles>; -> x"]:
        out = canon(f"digraph {{ a [label={quote(text)}]; }}")
        want = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        assert f'label="{want}"' in out, out


def test_roles_and_outputs_have_distinct_styles(step):
    g = stage_graph(step.loss, stage="built")
    text = to_dot(g)
    shapes = {role: style["shape"] for role, style in ROLE_STYLE.items()}
    assert len(set(shapes.values())) == len(shapes) - 1  # constants and ops are boxes...
    assert ROLE_STYLE["constant"]["style"] != ROLE_STYLE["op"]["style"]  # ...styled apart
    out = f"n{step.loss._node.uid}"
    line = next(l for l in text.splitlines() if l.strip().startswith(f'"{out}"'))
    assert 'peripheries="2"' in line and 'color="#c62828"' in line


def test_free_views_are_dashed():
    x = graphc.tensor([[1., 2.], [3., 4.]])
    g = stage_graph((x.transpose(1, 0) * 2).sum(axis=0), stage="fused")
    views = [n for n, d in g.nodes(data=True) if d.get("view")]
    assert views
    text = to_dot(g)
    for n in views:
        assert 'style="rounded,dashed"' in next(l for l in text.splitlines()
                                                if l.strip().startswith(f'"{n}"'))
