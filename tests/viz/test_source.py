"""Source lines of nodes, also after their location has been formatted elsewhere."""

from __future__ import annotations

import importlib.util
import sys

import graphc
from graphc.viz.source import SourceLines


def _import(path, name, monkeypatch):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _user_file(folder, basename):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / basename
    path.write_text("import graphc\n\ndef build():\n    return graphc.tensor([1.]) * 3  # here\n")
    return path


def test_where_reads_the_line_without_changing_the_meta():
    t = graphc.tensor([2.]) - 1  # the marked line
    location, text = SourceLines().where(t._node.meta)
    assert text == "t = graphc.tensor([2.]) - 1  # the marked line"
    assert location == f"test_source.py:{t._node.meta.location.split(':')[1]}"
    assert SourceLines().where(t._node.meta)[1] == text  # still there the second time


def test_found_again_by_file_name_after_formatting(tmp_path, monkeypatch):
    module = _import(_user_file(tmp_path, "viz_src_unique_a.py"), "viz_src_unique_a",
                     monkeypatch)
    node = module.build()._node
    assert node.meta.location == "viz_src_unique_a.py:4"  # formats it: the path is gone
    assert SourceLines().where(node.meta) == ("viz_src_unique_a.py:4",
                                              "return graphc.tensor([1.]) * 3  # here")


def test_ambiguous_file_names_give_no_line(tmp_path, monkeypatch):
    first = _import(_user_file(tmp_path / "a", "viz_src_twice.py"), "viz_src_twice_a",
                    monkeypatch)
    _import(_user_file(tmp_path / "b", "viz_src_twice.py"), "viz_src_twice_b", monkeypatch)
    node = first.build()._node
    assert node.meta.location == "viz_src_twice.py:4"
    assert SourceLines().where(node.meta) == ("viz_src_twice.py:4", "")
