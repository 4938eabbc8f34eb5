"""docs/megengine_api.toml (MegEngine's public API with graphc's status for each name) is
true of the code, and docs/megengine.md is what scripts/render_megengine_md.py renders
from it."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("render_megengine_md",
                                               ROOT / "scripts" / "render_megengine_md.py")
render_md = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_md)

DATA = render_md.load_data()
SECTIONS = render_md.sections(DATA)
_MISSING = object()


def resolve(module: str, dotted: str) -> Any:
    """``module.dotted`` by attribute (the top module imported), or ``_MISSING``."""
    obj: Any = importlib.import_module(module)
    for part in dotted.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _claimed() -> list:
    cases = []
    for key, table in SECTIONS:
        for name, value in table["names"].items():
            mark, _ = render_md.parse_status(value)
            if mark in ("✓", "~"):
                cases.append(pytest.param(table, name, id=f"{key}.{name}"))
    return cases


def test_every_status_has_the_documented_form():
    for key, table in SECTIONS:
        assert set(table) >= {"megengine", "graphc", "about", "names"}, key
        for name, value in table["names"].items():
            render_md.parse_status(value)  # raises on a malformed status
            # an issue named is one filed: 20 (MegEngine code runs unchanged, part 1),
            # 21 (data, random distributions, F.nn, F.dot), 22 (benchmarking)
            assert set(re.findall(r"issue (\d+)", value)) <= {"20", "21", "22"}, (key, name)


@pytest.mark.parametrize("bad", ["✓ but", "~", "✗", "yes", ""])
def test_malformed_statuses_are_refused(bad):
    with pytest.raises(ValueError, match="expected '✓'"):
        render_md.parse_status(bad)


def test_every_name_marked_present_exists_in_graphc():
    missing, modules = [], []
    for table, name in (case.values for case in _claimed()):
        module = table["graphc"]
        obj = (resolve(module, name) if importlib.util.find_spec(module) is not None
               else _MISSING)
        if obj is _MISSING:
            missing.append(f"{module}.{name}")
        elif inspect.ismodule(obj) and name not in table.get("modules", []):
            modules.append(f"{module}.{name}")  # a submodule that shares the API's name
    assert missing == [], "marked ✓ or ~ in docs/megengine_api.toml but not in graphc"
    assert modules == [], "a module, where MegEngine's name is not one"


def test_the_check_catches_a_missing_name():
    assert resolve("graphc.functional", "add") is not _MISSING
    assert resolve("graphc.functional", "no_such_function") is _MISSING
    assert inspect.ismodule(resolve("graphc.data", "dataset"))  # a subpackage


def test_the_names_of_each_section_are_unique_and_cover_the_inventory():
    functional = DATA["functional"]["names"]
    # the 67 names the inventory proposed for a first version are all listed
    starred = ("add sub mul div floor_div neg pow abs exp log log1p sqrt square maximum "
               "minimum clip sin cos tanh equal sum prod mean var std min max argmin argmax "
               "matmul arange linspace eye full ones zeros zeros_like ones_like broadcast_to "
               "concat stack split gather where transpose reshape flatten expand_dims squeeze "
               "copy linear conv2d max_pool2d avg_pool2d relu sigmoid gelu leaky_relu softmax "
               "logsoftmax logsumexp batch_norm dropout one_hot").split()
    assert [n for n in starred if n not in functional] == []
    assert len(DATA["module"]["names"]) > 70 and len(functional) > 150


def test_the_page_is_rendered_from_the_data():
    page = (ROOT / "docs" / "megengine.md").read_text(encoding="utf-8")
    assert page == render_md.render(DATA), \
        "docs/megengine.md is stale: run .venv/bin/python scripts/render_megengine_md.py"


def test_the_page_says_in_one_place_that_graphc_never_unpickles():
    page = (ROOT / "docs" / "megengine.md").read_text(encoding="utf-8")
    assert page.count("## Where graphc differs on purpose") == 1
    differences = page.split("## Where graphc differs on purpose")[1].split("\n## ")[0]
    for needed in ("never unpickles", "`mge.save(model, path)`", ".mge", ".pkl"):
        assert needed in differences


def test_the_script_checks_staleness(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_megengine_md.py"),
                           "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_rendering_counts_and_tables():
    data = {"page": {"title": "T", "intro": "i", "differences": "d"},
            "pkg": {"megengine": "megengine.pkg", "graphc": "graphc.pkg", "about": "a",
                    "names": {"f": "✓", "g": "~ takes no x", "h": "✗ issue 21",
                              "k": "✗ a | b"}}}
    text = render_md.render(data)
    assert "| [`megengine.pkg`](#megenginepkg) | `graphc.pkg` | 1 | 1 | 2 |" in text
    assert "✓ as in MegEngine (1): `f`." in text
    assert "| `g` | ~ | takes no x |" in text and "| `k` | ✗ | a \\| b |" in text
