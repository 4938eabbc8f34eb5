"""What the kernel cache's tests share: an isolated cache per test, a cache filled once
per session or module to copy from, and the environment of a child process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graphc.codegen import cache

# Variables that would change where or whether the cache is written.
CACHE_VARIABLES = ("GRAPHC_DUMP", "GRAPHC_CACHE_MAX_BYTES", "NUMBA_CACHE_DIR")


def isolated(monkeypatch: pytest.MonkeyPatch, root: Path) -> Iterator[Path]:
    """An empty cache at ``root``, the defaults for the rest, and no kernels in memory
    (a fixture's body: ``yield from isolated(monkeypatch, tmp_path / "cache")``)."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(root))
    for name in CACHE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cache._forget_loaded_kernels()
    yield root
    cache._forget_loaded_kernels()


def filled_template(tmp_path_factory, name: str, fill: Callable[[], None]) -> Path:
    """A cache directory that ``fill()`` filled in this process (copy it to change it)."""
    template = tmp_path_factory.mktemp(name) / "cache"
    with pytest.MonkeyPatch.context() as patch:
        for _ in isolated(patch, template):  # once, then isolated() cleans up
            fill()
    return template


def child_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment for a child using ``cache_dir``, without the variables
    that would move its cache."""
    env = {k: v for k, v in os.environ.items() if k not in CACHE_VARIABLES}
    env["GRAPHC_CACHE_DIR"] = str(cache_dir)
    env.update(extra)
    return env
