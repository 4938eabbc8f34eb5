"""The layers of docs/architecture.md hold: every import in graphc is allowed by the
table there, every top-level module is placed in it, nothing below the front end binds a
module by a computed name, and op definitions are changed only inside graphc/ops."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from graphc.ops.registry import OpDef
from tests.layering import (
    PACKAGE,
    ROOT,
    Layers,
    dynamic_imports_by_expression,
    imports_of,
    opdef_assignments,
    parse_layers,
    source_files,
    top_level,
)

ARCHITECTURE = ROOT / "docs" / "architecture.md"
OPDEF_FIELDS = {f.name for f in fields(OpDef)}


@pytest.fixture(scope="module")
def layers() -> Layers:
    return parse_layers(ARCHITECTURE.read_text())


def forbidden_imports(layers: Layers) -> list[str]:
    """``file:line module -> module`` for every import the table does not allow."""
    bad = []
    for dotted, path in source_files():
        importer = top_level(dotted)
        for found in imports_of(dotted, path):
            imported = top_level(found.target)
            if not layers.allows(importer, imported):
                bad.append(f"{path.relative_to(ROOT)}:{found.line} {importer} -> {imported} "
                           f"({found.how} {found.target})")
    return bad


def test_every_import_is_allowed_by_the_table(layers):
    assert forbidden_imports(layers) == []


def test_every_top_level_module_is_placed_and_every_placed_one_exists(layers):
    on_disk = {top_level(dotted) for dotted, _ in source_files()}
    assert sorted(on_disk - set(layers.layer_of)) == []
    assert sorted(set(layers.layer_of) - on_disk) == []
    assert set(layers.peers) <= set(layers.layer_of)
    for importer, imported in layers.peers.items():
        assert all(layers.layer_of[m] == layers.layer_of[importer] for m in imported), importer


def test_the_compiler_layers_are_below_the_front_end(layers):
    front = layers.layer_of["device"]
    for module in ("ir", "ops", "passes", "codegen", "interp", "kernels", "backends",
                   "runtime"):
        assert layers.layer_of[module] < front
    for lower, upper in (("ops", "kernels"), ("passes", "kernels"), ("passes", "runtime"),
                         ("ops", "device"), ("passes", "codegen"), ("ops", "tensor")):
        assert not layers.allows(lower, upper)


def test_nothing_below_the_front_end_imports_a_computed_name(layers):
    front = layers.layer_of["device"]
    computed = [f"{path.relative_to(ROOT)}:{line}" for dotted, path in source_files()
                if layers.layer_of[top_level(dotted)] < front
                for line in dynamic_imports_by_expression(path)]
    assert computed == []


def test_the_scan_catches_a_forbidden_import_put_back(layers, monkeypatch, tmp_path):
    """The BLAS import that ops/linalg.py had before backends owned the kernels, at module
    level, inside a function and as an importlib string: each is reported."""
    linalg = PACKAGE / "ops" / "linalg.py"
    for line in ("from ..kernels.cpu.blas import gemm_accumulate\n",
                 "def f():\n    from graphc.kernels.cpu import blas\n",
                 "import importlib\nBLAS = importlib.import_module('graphc.kernels.cpu.blas')\n",
                 "from ..device import canonical_device\n",
                 "def g():\n    import graphc.tensor\n"):
        found = imports_of("graphc.ops.linalg", linalg, linalg.read_text() + line)
        bad = [i for i in found if not layers.allows("ops", top_level(i.target))]
        assert len(bad) == 1, line


def test_a_module_missing_from_the_table_is_reported():
    text = ARCHITECTURE.read_text().replace(" interp ", " ", 1)
    assert "interp" not in parse_layers(text).layer_of


def test_op_definitions_are_assigned_only_inside_ops():
    ops_dir = PACKAGE / "ops"
    offending = []
    for _, path in source_files():
        if ops_dir in path.parents:
            continue
        for line in opdef_assignments(path.read_text(), OPDEF_FIELDS):
            offending.append(f"{path.relative_to(ROOT)}:{line}")
    assert offending == []


@pytest.mark.parametrize("source", [
    'get_op("exp").scalar_op = "x"',
    'OPS["exp"].exact = ""',
    'op = get_op("matmul")\nop.lower = None\nop.kind = "opaque"',
    'for op in OPS.values():\n    op.vjp = None',
    'for name, op in OPS.items():\n    op.vjp, op.vjp_needs = None, False',
    'setattr(get_op("exp"), "scalar_op", "y")',
    'register("x", "opaque", None, None).marker = True',
])
def test_the_op_definition_scan_sees_each_form(source):
    assert opdef_assignments(source, OPDEF_FIELDS | {"lower"})


def test_the_op_definition_scan_ignores_other_objects():
    assert opdef_assignments("kernel.kind = 'loop'\nself.scalar_op = t", OPDEF_FIELDS) == []


def test_the_scan_reads_this_repository():
    files = [path for _, path in source_files()]
    assert PACKAGE / "ops" / "linalg.py" in files
    assert ROOT / "kernels" / "cpu" / "blas.py" in files
    assert all(isinstance(p, Path) for p in files)
