"""docs/visualisation.md: its examples run, its pictures exist and the script that makes
them still works."""

from __future__ import annotations

import doctest
import importlib.util
import io
import re
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "visualisation.md"
_FENCE = re.compile(r"^```(python|pycon)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session: dict = {"__name__": "__main__"}
    runner, report = doctest.DocTestRunner(optionflags=0), io.StringIO()
    for block in _FENCE.finditer(DOC.read_text()):
        code = block.group(2)
        if ">>>" in code:
            test = doctest.DocTestParser().get_doctest(code, session, "visualisation.md",
                                                       str(DOC), 0)
            runner.run(test, out=report.write, clear_globs=False)
        else:
            exec(compile(code, str(DOC), "exec"), session)
    assert runner.summarize(verbose=False).failed == 0, report.getvalue()
    assert runner.tries > 0
    assert (tmp_path / "grads.svg").read_text().count('class="cluster"') == 2
    assert (tmp_path / "step.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "train_step.svg").read_text().count('class="cluster"') == 3
    g = nx.node_link_graph(__import__("json").loads((tmp_path / "step.json").read_text()),
                           edges="edges")
    assert g.graph["name"] == "MLP training step" and len(g.graph["clusters"]) > 10


def test_pictures_are_committed_and_linked():
    text = DOC.read_text()
    linked = re.findall(r"\]\((images/[^)]+\.png)\)", text)
    assert len(linked) == 5
    for rel in linked:
        assert (DOC.parent / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_script_makes_every_picture(tmp_path):
    spec = importlib.util.spec_from_file_location("make_viz_images",
                                                  ROOT / "scripts" / "make_viz_images.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = sorted(p.name for p in (ROOT / "docs" / "images").glob("viz-*.png"))
    assert sorted(script.image_name(*image) for image in script.IMAGES) == committed
    written = script.main(tmp_path, images=[("fused", "module")])  # one: rendering is slow
    assert [p.name for p in written] == ["viz-fused-by-module.png"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
