"""Model entry points from a local directory's ``hubconf.py`` (``megengine.hub.load``).

A hub repository is a directory with a ``hubconf.py`` whose public callables are its
entry points (model factories, usually decorated with ``@hub.pretrained``). It may list
the modules it needs in ``dependencies``. :func:`load` builds an entry's model,
:func:`list` names the entries, :func:`help` returns an entry's docstring and
:func:`import_module` returns the module itself.

These **run the directory's hubconf.py**, with the directory first on ``sys.path``:
it is Python code, run because you asked for it by naming the directory, like any
script you run (docs/security.md). graphc never fetches code: a MegEngine repository
name (``"owner/repo:tag"`` on a git host) is refused; clone it and pass the clone.

>>> import os, tempfile
>>> repo = tempfile.mkdtemp()
>>> with open(os.path.join(repo, "hubconf.py"), "w") as f:
...     _ = f.write('''
... import graphc.module as M
... dependencies = ["numpy"]
... def linear(features=3):
...     "A linear layer to one output."
...     return M.Linear(features, 1)
... ''')
>>> list(repo), help(repo, "linear")
(['linear'], 'A linear layer to one output.')
>>> load(repo, "linear", features=5).weight.shape
(1, 5)
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

__all__ = ["HUBCONF", "help", "import_module", "list", "load"]

HUBCONF = "hubconf.py"


def _directory(repo_info: str | os.PathLike, caller: str) -> str:
    """The absolute directory ``repo_info`` names, or a clear refusal."""
    if not isinstance(repo_info, (str, os.PathLike)):
        raise TypeError(f"hub.{caller}: repo_info must be a directory path, got "
                        f"{type(repo_info).__name__}")
    path = os.path.abspath(os.fspath(repo_info))
    if not os.path.isdir(path):
        raise ValueError(
            f"hub.{caller}: {os.fspath(repo_info)!r} is not a directory on this machine. "
            f"graphc.hub loads hubconf.py only from a local directory; it does not fetch "
            f"repositories from a git host (MegEngine's 'owner/repo:tag'): clone the "
            f"repository (git clone https://github.com/owner/repo) and pass the clone's path")
    if not os.path.isfile(os.path.join(path, HUBCONF)):
        raise FileNotFoundError(f"hub.{caller}: {path} has no {HUBCONF}")
    return path


def _refuse_remote_options(caller: str, git_host: Any, commit: Any, protocol: Any) -> None:
    given = [name for name, value in (("git_host", git_host), ("commit", commit),
                                      ("protocol", protocol)) if value is not None]
    if given:
        raise ValueError(f"hub.{caller}: {', '.join(given)} apply to repositories fetched "
                         f"from a git host, which graphc.hub does not fetch; check out the "
                         f"commit you want in your clone and pass its directory")


@contextlib.contextmanager
def _first_on_path(path: str) -> Iterator[None]:
    """``path`` first on ``sys.path`` while hubconf.py runs (it imports its siblings)."""
    sys.path.insert(0, path)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(path)


def _check_dependencies(module: types.ModuleType, path: str) -> None:
    needed = getattr(module, "dependencies", [])
    if isinstance(needed, str) or not isinstance(needed, (builtins.list, tuple)):
        raise TypeError(f"hub: {path}/{HUBCONF} sets dependencies to a "
                        f"{type(needed).__name__}; it must be a list of module names")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"hub: {path}/{HUBCONF} needs modules that are not installed: "
                           f"{', '.join(missing)}")


def import_module(repo_info: str | os.PathLike, git_host: str | None = None,
                  use_cache: bool = True, commit: str | None = None,
                  protocol: str | None = None) -> types.ModuleType:
    """Run ``repo_info``'s hubconf.py and return it as a module (its directory first on
    ``sys.path`` while it runs). ``use_cache`` is accepted and ignored (nothing is
    fetched); ``git_host``, ``commit`` and ``protocol`` are refused."""
    _refuse_remote_options("import_module", git_host, commit, protocol)
    path = _directory(repo_info, "import_module")
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:12]
    name = f"graphc_hubconf_{digest}"
    spec = importlib.util.spec_from_file_location(name, os.path.join(path, HUBCONF))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle-free introspection look it up
    with _first_on_path(path):
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
    _check_dependencies(module, path)
    return module


def _entries(module: types.ModuleType) -> builtins.list[str]:
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and callable(value)
                  and not isinstance(value, types.ModuleType))


def list(repo_info: str | os.PathLike, git_host: str | None = None,  # noqa: A001
         use_cache: bool = True, commit: str | None = None,
         protocol: str | None = None) -> builtins.list[str]:
    """The entry points of ``repo_info``'s hubconf.py: its public callables, sorted."""
    return _entries(import_module(repo_info, git_host, use_cache, commit, protocol))


def _entry(module: types.ModuleType, entry: str, caller: str) -> Any:
    entries = _entries(module)
    if entry not in entries:
        raise AttributeError(f"hub.{caller}: {entry!r} is not an entry point of "
                             f"{module.__file__}; it has {entries}")
    return getattr(module, entry)


def help(repo_info: str | os.PathLike, entry: str, git_host: str | None = None,  # noqa: A001
         use_cache: bool = True, commit: str | None = None,
         protocol: str | None = None) -> str:
    """The docstring of entry point ``entry`` of ``repo_info``'s hubconf.py."""
    module = import_module(repo_info, git_host, use_cache, commit, protocol)
    return _entry(module, entry, "help").__doc__ or ""


def load(repo_info: str | os.PathLike, entry: str, *args: Any, git_host: str | None = None,
         use_cache: bool = True, commit: str | None = None, protocol: str | None = None,
         **kwargs: Any) -> Any:
    """Call entry point ``entry`` of ``repo_info``'s hubconf.py with ``args`` and
    ``kwargs`` (``pretrained=True`` for a ``@hub.pretrained`` factory's weights) and
    return what it builds."""
    module = import_module(repo_info, git_host, use_cache, commit, protocol)
    factory = _entry(module, entry, "load")
    with _first_on_path(os.path.dirname(module.__file__)):
        return factory(*args, **kwargs)
