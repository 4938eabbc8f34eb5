"""Docs stay true: every docstring example in graphc, and every Python example in the
user documentation, runs and prints what it shows.

One test per module that has examples (found with pkgutil.walk_packages, plus folders
without an ``__init__.py``), on the backend tests/conftest.py selects; one per
documentation file and backend. The default device is pinned to ``xpux`` (the outputs
show it) and the kernel cache is a private, empty one (the cache and CLI examples write
and clear it).
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import graphc
from graphc import kernels as graphc_kernels

ROOT = Path(__file__).resolve().parent.parent

# Modules whose examples are not run, each with the reason (a real bug goes here, named,
# until it is fixed; the bug is reported, the docstring stays as it should read).
EXCLUDED: dict[str, str] = {}

# User documentation whose ```python / ```pycon blocks must run. Blocks with ">>>" are
# doctests; blocks without are run as scripts. Blocks of one file share their names, like
# one interactive session read top to bottom.
DOC_FILES = ["README.md", "docs/getting-started.md", "docs/architecture.md", "docs/api.md",
             "docs/autodiff.md", "docs/define-then-run.md", "docs/training.md",
             "docs/visualisation.md", "docs/security.md", "docs/hub.md",
             "docs/data.md", "docs/devices-and-config.md"]


def _module_names(package: ModuleType) -> list[str]:
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        names.append(info.name)
    # walk_packages does not enter folders without __init__.py (implicit namespace
    # packages), and graphc/runtime is one.
    pending = [(Path(p), package.__name__) for p in package.__path__]
    while pending:
        folder, prefix = pending.pop()
        for sub in sorted(folder.iterdir()):
            if not sub.is_dir() or not sub.name.isidentifier():
                continue
            name = f"{prefix}.{sub.name}"
            if (sub / "__init__.py").exists():
                pending.append((sub, name))  # walk_packages listed it; look deeper
            elif any(sub.glob("*.py")):
                names += [m.name for m in pkgutil.walk_packages([str(sub)], name + ".")]
                pending.append((sub, name))
    # Importing a __main__ module runs it (graphc.bench's runs the benchmarks).
    return sorted({n for n in names if n.rsplit(".", 1)[-1] != "__main__"})


def _has_examples(name: str) -> bool:
    try:
        module = importlib.import_module(name)
    except Exception:
        return True  # keep it: its test reports the import error
    return any(t.examples for t in doctest.DocTestFinder().find(module))


MODULES = [n for n in _module_names(graphc) + _module_names(graphc_kernels)
           if n not in EXCLUDED and _has_examples(n)]


@pytest.fixture(autouse=True)
def example_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # examples that write files (viz exports) write them here
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GRAPHC_DUMP", raising=False)
    saved = graphc.get_default_device()
    graphc.set_default_device("xpux")
    yield
    graphc.set_default_device(saved)


def _check(runner: doctest.DocTestRunner, report: io.StringIO) -> None:
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, "no examples ran"
    assert result.failed == 0, report.getvalue()


def test_module_list_is_complete():
    """The discovery above sees every module of the package, runtime/ included."""
    files = {p for p in (ROOT / "graphc").rglob("*.py") if "__pycache__" not in p.parts}
    expected = {"graphc." + ".".join(p.relative_to(ROOT / "graphc").with_suffix("").parts)
                for p in files}
    expected = {n.removesuffix(".__init__") for n in expected}
    found = set(_module_names(graphc))
    assert expected - found <= {n for n in expected if n.endswith("__main__")}
    assert "graphc.runtime.explain" in found


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner, report = doctest.DocTestRunner(optionflags=0), io.StringIO()  # strict matching
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=report.write)
    _check(runner, report)


_FENCE = re.compile(r"^```(python|pycon)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def doc_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each Python block in a Markdown text."""
    return [(text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in _FENCE.finditer(text)]


def test_doc_blocks_are_found():
    text = "intro\n```python\nx = 1\n```\n\n```pycon\n>>> x\n1\n```\n```sh\nmake\n```\n"
    assert doc_blocks(text) == [(3, "x = 1\n"), (7, ">>> x\n1\n")]


def _doc_cases() -> list:
    cases = []
    for path in DOC_FILES:
        for backend in ("interp", "compiled"):
            cases.append(pytest.param(path, backend, id=f"{path}-{backend}"))
    return cases


@pytest.mark.parametrize(("path", "backend"), _doc_cases())
def test_documentation_examples(path, backend, monkeypatch):
    """The examples hold on both backends (the compiled one is what users get)."""
    monkeypatch.setenv("GRAPHC_BACKEND", backend)
    file = ROOT / path
    text = file.read_text(encoding="utf-8")
    blocks = doc_blocks(text)
    assert blocks, f"{path} has no Python examples"
    session: dict = {"__name__": "__main__"}
    runner, report = doctest.DocTestRunner(optionflags=0), io.StringIO()
    for line, code in blocks:
        if ">>>" in code:
            test = doctest.DocTestParser().get_doctest(code, session, f"{path}:{line}",
                                                       str(file), line - 1)
            test.globs = session  # get_doctest copies; the blocks share one session
            runner.run(test, out=report.write, clear_globs=False)
        else:
            # Leading newlines make tracebacks show the file's own line numbers.
            exec(compile("\n" * (line - 1) + code, str(file), "exec"), session)
    if runner.tries:
        _check(runner, report)


def test_api_reference_lists_every_public_name():
    import graphc.functional as F

    text = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    names = [n for n in graphc.__all__ if not n.startswith("__")]
    names += [n for n in F.__all__ if callable(getattr(F, n))]
    missing = [n for n in names if not re.search(rf"`(graphc\.)?{n}\b", text)]
    assert not missing, f"add these public names to docs/api.md: {missing}"
