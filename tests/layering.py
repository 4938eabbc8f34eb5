"""Reading graphc's import graph from its source (for tests/test_imports.py).

The allowed-import table is data in docs/architecture.md (the fenced ``layers`` block):
one line per layer, lowest first, ``name: module module ...``; then ``peers:`` and one
line per module, ``module -> module module ...``, for the imports allowed inside a
layer. A module may import any module of a lower layer and, in its own layer, only its
listed peers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "graphc"
KERNELS = ROOT / "kernels"  # installed as graphc.kernels (pyproject's package-dir)
DYNAMIC_IMPORTS = {"import_module", "__import__"}


@dataclass(frozen=True)
class Layers:
    """The table: each top-level module's layer index, and the allowed peer edges."""

    layer_of: dict[str, int]
    layer_names: list[str]
    peers: dict[str, frozenset[str]]

    def allows(self, importer: str, imported: str) -> bool:
        """Whether top-level module ``importer`` may import ``imported``."""
        if importer == imported:
            return True
        a, b = self.layer_of[importer], self.layer_of[imported]
        return b < a or (a == b and imported in self.peers.get(importer, ()))


def parse_layers(markdown: str) -> Layers:
    """The ``layers`` block of ``markdown`` as a :class:`Layers`; ValueError if absent or
    if a module is placed twice."""
    block = re.search(r"^```layers\n(.*?)^```", markdown, re.M | re.S)
    if block is None:
        raise ValueError("no ```layers block found")
    layer_of: dict[str, int] = {}
    names: list[str] = []
    peers: dict[str, frozenset[str]] = {}
    in_peers = False
    for raw in block.group(1).splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line == "peers:":
            in_peers = True
        elif in_peers:
            importer, _, imported = line.partition("->")
            peers[importer.strip()] = frozenset(imported.split())
        else:
            name, _, modules = line.partition(":")
            names.append(name.strip())
            for module in modules.split():
                if module in layer_of:
                    raise ValueError(f"{module} is placed twice")
                layer_of[module] = len(names) - 1
    return Layers(layer_of, names, peers)


def source_files() -> Iterator[tuple[str, Path]]:
    """``(dotted module name, path)`` of every Python file of the graphc package."""
    for base, prefix in ((PACKAGE, ("graphc",)), (KERNELS, ("graphc", "kernels"))):
        for path in sorted(base.rglob("*.py")):
            parts = prefix + path.relative_to(base).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def top_level(dotted: str) -> str:
    """The table's name for a graphc module: its first component below ``graphc``
    (``__init__`` for the package itself)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a graphc module or package on disk."""
    parts = dotted.split(".")
    if parts[0] != "graphc":
        return False
    if len(parts) > 1 and parts[1] == "kernels":
        path = KERNELS.joinpath(*parts[2:])
    else:
        path = PACKAGE.joinpath(*parts[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@dataclass(frozen=True)
class Import:
    """One import of a graphc module found in a file."""

    target: str  # dotted graphc module
    line: int
    how: str  # "import", "from" or "dynamic"


def imports_of(dotted: str, path: Path, source: str | None = None) -> list[Import]:
    """Every graphc module that file ``path`` (module ``dotted``) imports: ``import`` and
    ``from`` statements at any depth (module level, functions, classes) and
    ``importlib.import_module``/``__import__`` calls with literal names. A ``from X
    import name`` counts as an import of ``X.name`` where that is a module, else of X."""
    tree = ast.parse(path.read_text() if source is None else source)
    package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(a.name, node.lineno, "import") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append(Import(child if is_module(child) else base, node.lineno, "from"))
        elif isinstance(node, ast.Call) and _call_name(node) in DYNAMIC_IMPORTS:
            args = [a.value for a in node.args if isinstance(a, ast.Constant)
                    and isinstance(a.value, str)]
            if args:
                name = args[0]
                if name.startswith("."):
                    level = len(name) - len(name.lstrip("."))
                    name = _absolute(name.lstrip(".") or None, level,
                                     args[1] if len(args) > 1 else package)
                found.append(Import(name, node.lineno, "dynamic"))
    return [i for i in found if i.target == "graphc" or i.target.startswith("graphc.")]


def dynamic_imports_by_expression(path: Path) -> list[int]:
    """Lines of ``import_module``/``__import__`` calls whose module is not a literal
    string (an import no scan can check: binding a module by a computed name)."""
    tree = ast.parse(path.read_text())
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _call_name(node) in DYNAMIC_IMPORTS
            and not (node.args and isinstance(node.args[0], ast.Constant))]


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[:len(parts) - level + 1]
    return ".".join(base + ([module] if module else []))


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


# ---- assignments to op definitions ------------------------------------------------------

OP_SOURCES = {"get_op", "register", "register_composite"}  # calls returning an OpDef


def opdef_assignments(source: str, fields: set[str]) -> list[int]:
    """Lines of ``source`` that assign an attribute in ``fields`` of an op definition:
    ``get_op(...).f = ...``, ``OPS[...].f = ...``, ``op.f = ...`` where ``op`` was bound
    to such an expression (or iterates ``OPS.values()``/``OPS.items()``), and
    ``setattr`` on any of them."""
    tree = ast.parse(source)
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_opdef(node.value, bound):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.For) and _iterates_ops(node.iter):
            bound |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    lines = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in _flatten(target)]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr in fields and _is_opdef(t.value, bound):
                lines.append(node.lineno)
        if (isinstance(node, ast.Call) and _call_name(node) == "setattr" and node.args
                and _is_opdef(node.args[0], bound)):
            lines.append(node.lineno)
    return lines


def _flatten(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [t for e in target.elts for t in _flatten(e)]
    return [target]


def _is_opdef(expr: ast.expr | None, bound: set[str]) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in bound
    if isinstance(expr, ast.Call):
        if _call_name(expr) in OP_SOURCES:
            return True
        f = expr.func  # OPS.get(...)
        return (isinstance(f, ast.Attribute) and f.attr == "get"
                and isinstance(f.value, ast.Name) and f.value.id == "OPS")
    if isinstance(expr, ast.Subscript):
        return isinstance(expr.value, ast.Name) and expr.value.id == "OPS"
    return False


def _iterates_ops(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
            and expr.func.attr in ("values", "items") and isinstance(expr.func.value, ast.Name)
            and expr.func.value.id == "OPS")
