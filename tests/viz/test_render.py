"""Graphviz rendering: SVG with one element per node; a clear error without ``dot``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import graphc
from graphc.viz import GraphvizNotFoundError, export, stage_graph, to_dot
from graphc.viz.render import find_dot, render

SVG = "{http://www.w3.org/2000/svg}"


def svg_groups(svg: bytes, kind: str) -> dict[str, str]:
    """id → <title> of every ``<g class=kind>`` in well-formed SVG (parsing asserts it)."""
    root = ET.fromstring(svg)
    return {g.get("id"): g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")
            if g.get("class") == kind}


def test_svg_has_one_element_per_node_and_cluster(step):
    g = stage_graph([step.loss, *step.grads], stage="fused")
    svg = render(to_dot(g), "svg")
    nodes = svg_groups(svg, "node")
    assert len(nodes) == g.number_of_nodes()
    assert set(nodes) == set(g) and all(nid == title for nid, title in nodes.items())
    clusters = svg_groups(svg, "cluster")
    assert set(clusters) == {f"cluster_{k}" for k in g.graph["clusters"]}
    assert len(svg_groups(svg, "edge")) == g.number_of_edges()


def test_png_is_a_png(tmp_path):
    path = export(graphc.tensor([1., 2.]) * 3, tmp_path / "g.png", stage="built")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_without_dot_rendering_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("GRAPHC_DOT", raising=False)
    t = graphc.tensor([1., 2.]) * 3
    for suffix in ("svg", "png", "html"):
        with pytest.raises(GraphvizNotFoundError) as err:
            export(t, tmp_path / f"g.{suffix}")
        message = str(err.value)
        assert f"export to {suffix.upper()} needs Graphviz's `dot`" in message
        assert "apt-get install graphviz" in message and "make deps" in message
        assert ".dot or .json works without it" in message
        assert not (tmp_path / f"g.{suffix}").exists()
    assert export(t, tmp_path / "g.dot").read_text().startswith('digraph "graphc"')
    assert '"nodes"' in export(t, tmp_path / "g.json").read_text()


def test_graphc_dot_overrides_path(tmp_path, monkeypatch):
    dot = find_dot()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("GRAPHC_DOT", dot)
    assert find_dot() == dot


def test_bad_dot_text_reports_graphviz_error():
    with pytest.raises(RuntimeError, match=r"dot -Tsvg` failed \(exit 1\).*syntax error"):
        render("digraph { a -> ; }", "svg")
