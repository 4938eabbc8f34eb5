"""The graphc command: cache info/clear and --version, in-process and as `python -m`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import graphc
from graphc.cli import main


@pytest.fixture
def filled_cache(tmp_path, monkeypatch) -> Path:
    """A cache dir holding two kernel modules and a numba cache file (written by hand)."""
    root = tmp_path / "cache"
    pycache = root / "kernels" / "__pycache__"
    pycache.mkdir(parents=True)
    (root / "kernels" / "k_0123.py").write_text("import numpy as np\n")
    (root / "kernels" / "k_4567.py").write_text("import numpy as np\n" * 3)
    (pycache / "k_0123.kernel-5.py311.nbi").write_bytes(b"\x80" * 1500)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(root))
    monkeypatch.delenv("GRAPHC_CACHE_MAX_BYTES", raising=False)
    return root


def files_in(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, names in os.walk(root) for f in names]


def run_cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir))
    return subprocess.run([sys.executable, "-m", "graphc.cli", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_cache_info_in_process(filled_cache, capsys):
    total = sum(f.stat().st_size for f in files_in(filled_cache))
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"cache dir: {filled_cache}" in out
    assert "kernels:   2 generated, 0 hand-written" in out and "files:     3" in out
    assert "cap 2.0 GiB" in out
    assert f"({total} bytes; " in out and "KiB" in out

    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "dir": str(filled_cache), "kernels": 2, "library_functions": 0, "files": 3,
        "bytes": total, "max_bytes": 2 << 30}


def test_cache_clear_in_process(filled_cache, capsys):
    assert main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("removed 2 kernels and 0 hand-written (3 files, ")
    assert str(filled_cache) in out
    assert files_in(filled_cache) == []

    assert main(["cache", "clear", "--json"]) == 0  # clearing an empty cache is fine
    assert json.loads(capsys.readouterr().out) == {
        "dir": str(filled_cache), "kernels": 0, "library_functions": 0, "files": 0,
        "bytes": 0}


def test_cache_info_and_clear_as_a_module(filled_cache):
    total = sum(f.stat().st_size for f in files_in(filled_cache))
    info = run_cli("cache", "info", "--json", cache_dir=filled_cache)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout) == {
        "dir": str(filled_cache), "kernels": 2, "library_functions": 0, "files": 3,
        "bytes": total, "max_bytes": 2 << 30}

    clear = run_cli("cache", "clear", cache_dir=filled_cache)
    assert clear.returncode == 0, clear.stderr
    assert clear.stdout.startswith("removed 2 kernels and 0 hand-written (3 files, ")
    assert files_in(filled_cache) == []


def test_version(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"graphc {graphc.__version__}"

    done = run_cli("--version", cache_dir=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"graphc {graphc.__version__}")

    # The console script pip installs beside this interpreter (pyproject [project.scripts]).
    script = Path(sys.executable).with_name("graphc")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, f"graphc {graphc.__version__}")


def test_missing_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "cache" in capsys.readouterr().out
    assert main(["cache"]) == 2
    out = capsys.readouterr().out
    assert "info" in out and "clear" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["cache", "explode"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'explode'" in capsys.readouterr().err
