"""The on-disk kernel cache: generated kernel source text → a compiled numba dispatcher.

Each kernel source is named by a hash of its text, ``CODEGEN_VERSION``, numba's version and
the files of the graphc modules it imports and theirs in turn (``graphc.codegen.mathlib``
and ``mathlib_f32``: numba's own cache does not notice when a called jitted function
changes). The text is written to
``<cache dir>/kernels/k_<hash>.py`` and imported as ``graphc_kernels.k_<hash>``; the
kernel's ``@njit(cache=True)`` then keeps its machine code in ``__pycache__`` beside that
file (always there: graphc's own numba cache, never ``NUMBA_CACHE_DIR``), so a second
process loads it instead of compiling. CUDA kernels for a GPU take the same path as
``kernels/c_<hash>.py`` with a key of their own (device and toolchain:
:mod:`graphc.codegen.cuda_cache`).
A kernel source is a module defining ``kernel`` (graphc.codegen.cpu renders them):

>>> import numpy as np
>>> from graphc.codegen.cache import load_kernel
>>> source = '''
... from numba import njit
...
... @njit(cache=True)
... def kernel(out, x):
...     for i in range(x.shape[0]):
...         out[i] = x[i] + 1.0
... '''
>>> kernel = load_kernel(source)        # writes k_<hash>.py to the cache, imports it
>>> out = np.zeros(3); kernel(out, np.arange(3.0)); out   # compiles, or loads numba's code
array([1., 2., 3.])

The cache directory is ``GRAPHC_CACHE_DIR`` (default ``~/.cache/graphc``), read at every
call. ``GRAPHC_DUMP=dir`` also writes each loaded source to ``dir/<hash>.py``.

Nothing on disk is trusted that graphc has not checked (docs/security.md):

- A module file whose bytes differ from the source (truncated, garbage, edited) is
  rewritten before import, and the import compiles the *verified source text in memory*
  (never the file, never a ``.pyc``), so the code numba compiles is always the source.
- numba's cache files (pickles) are located in graphc's cache, recorded with a digest
  bound to the kernel key when numba saves them and checked before numba unpickles
  them (:mod:`graphc.codegen.numba_cache`). A file that fails (copied, stale, planted,
  corrupt), or an entry for another signature, is deleted with one
  ``KernelCacheWarning`` and the kernel compiles afresh.
- A cache directory that others can write is never read, and one that cannot be
  written (read-only, uncreatable, deleted meanwhile) is not needed: the kernel compiles
  in memory, with one warning for the first two (:mod:`graphc.codegen.cache_files`).
- Writes go to a temporary file in the same directory and ``os.replace`` it, so a
  concurrent reader sees the old file or the new one. No fsync: a file torn by a crash
  is detected by the checks above.
- The cache is capped (``GRAPHC_CACHE_MAX_BYTES``, 2 GiB by default); past the cap the
  least recently used kernels are deleted (:mod:`graphc.codegen.cache_index`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import re
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import cache_index
from .cache_files import (
    KernelCacheWarning,
    forget_warnings,
    usable_directory,
    warn_unwritable,
    write_if_different,
)

#: Bump when code generation changes what a source text means at run time (new helpers,
#: different calling conventions): it renames every kernel, so old cache entries are unused.
#: 7: numba's files are verified against graphc's records (older entries have none).
#: 8: float whole reductions in fixed blocks, map kernels without reassoc, division by
#: zero as in NumPy (error_model="numpy"): the same bits on every call and thread count.
#: 10: index expressions built as trees by the ops (no "+ 0", "1 *" or "2 + 0" terms; a
#: reshape divides a whole compound index, where the parsed text divided its last term).
CODEGEN_VERSION = 10

KERNEL_PACKAGE = "graphc_kernels"  # parent of the kernel modules in sys.modules
KEY_LENGTH = 24  # hex digits of sha256 kept in a kernel key (96 bits)


_GRAPHC_IMPORT = re.compile(r"^\s*(?:from|import)\s+(graphc(?:\.\w+)*)\b", re.MULTILINE)

__all__ = ["KernelCacheWarning", "cache_dir", "cache_info", "clear_cache", "compile_stats",
           "kernel_key", "load_kernel"]


_lock = threading.RLock()
_modules: dict[str, types.ModuleType] = {}  # kernel key → imported kernel module
_dispatchers: list[Any] = []  # every dispatcher handed out, for compile_stats()
_counts = {"memory_hits": 0, "modules_imported": 0, "modules_written": 0,
           "sources_dumped": 0}
_dependency_digests: dict[str, str] = {}  # graphc module name → sha256 of its file


def cache_dir() -> Path:
    """The cache directory: ``GRAPHC_CACHE_DIR``, else ``~/.cache/graphc`` (not created).

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", GRAPHC_CACHE_DIR="/tmp/graphc-cache"):
    ...     str(cache_dir())
    '/tmp/graphc-cache'
    >>> with mock.patch.dict("os.environ", GRAPHC_CACHE_DIR=""):
    ...     cache_dir() == Path.home() / ".cache" / "graphc"
    True
    """
    return Path(os.environ.get("GRAPHC_CACHE_DIR") or "~/.cache/graphc").expanduser()


def kernel_key(source: str) -> str:
    """The hex key naming ``source`` in the cache (module ``k_<key>.py``).

    >>> len(kernel_key("import numpy as np\\n"))
    24
    """
    digest = hashlib.sha256()
    for part in (f"graphc-codegen-{CODEGEN_VERSION}", f"numba-{_numba_version()}",
                 *_dependency_fingerprints(source), source):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:KEY_LENGTH]


def load_kernel(source: str, entry: str = "kernel") -> Any:
    """Return the numba dispatcher named ``entry`` in kernel module ``source``.

    A source seen before in this process returns the same dispatcher at once. Otherwise
    the source is written to the cache (if missing or different on disk) and imported;
    numba compiles at the first call, or loads its cached machine code without compiling.

    >>> source = "from numba import njit\\n@njit(cache=True)\\ndef kernel(x):\\n    return x + 1\\n"
    >>> kernel = load_kernel(source)
    >>> kernel is load_kernel(source), kernel(41)
    (True, 42)
    """
    def attach(module: types.ModuleType, dispatcher: Any) -> None:
        from .numba_cache import use_graphc_cache_in

        use_graphc_cache_in(module)

    return load_generated(kernel_key(source), source, "k_", entry, attach)


def load_generated(key: str, source: str, prefix: str, entry: str,
                   attach: Callable[[types.ModuleType, Any], None]) -> Any:
    """The dispatcher ``entry`` of generated module ``source`` named ``<prefix><key>``
    (``k_``: CPU kernels, ``c_``: CUDA kernels, graphc.codegen.cuda_cache): written to
    ``<cache>/kernels/<prefix><key>.py`` if missing or different, imported from the
    verified text, and given its numba cache by ``attach(module, dispatcher)`` once."""
    with _lock:
        module = _modules.get(key)
        if module is not None:
            _counts["memory_hits"] += 1
        else:
            module = _import_kernel(key, source, prefix)
            _modules[key] = module
            _counts["modules_imported"] += 1
        dispatcher = _entry_point(module, entry)
        if not getattr(dispatcher, "_graphc_registered", False):
            attach(module, dispatcher)
            dispatcher._graphc_registered = True
            _dispatchers.append(dispatcher)
        _dump_source(key, source)
    return dispatcher


def compile_stats() -> dict[str, int]:
    """Counts of what loading and calling kernels did in this process so far.

    ``memory_hits``: load_kernel calls answered from memory; ``modules_imported``: kernel
    modules imported; ``modules_written``: module files (re)written to the cache;
    ``numba_compiles`` / ``numba_cache_hits``: signatures numba compiled / loaded from its
    cache, summed over ``dispatcher.stats.cache_misses`` / ``cache_hits`` of every kernel
    handed out (numba counts at the first call of each signature, so read these after
    calling); ``numba_cache_rebuilds``: corrupt numba cache entries deleted and rebuilt;
    ``sources_dumped``: files written to ``GRAPHC_DUMP``.

    >>> source = "from numba import njit\\n@njit(cache=True)\\ndef kernel(x):\\n    return 2 * x\\n"
    >>> load_kernel(source)(21)      # the first call compiles, or loads the cached code
    42
    >>> stats = compile_stats()      # numba_compiles is 0 in a process with a warm cache
    >>> stats["numba_compiles"] + stats["numba_cache_hits"] >= 1
    True
    """
    with _lock:
        stats = dict(_counts)
        dispatchers = list(_dispatchers)
    numba_cache = sys.modules.get(f"{__package__}.numba_cache")
    stats["numba_cache_rebuilds"] = numba_cache.rebuild_count() if numba_cache else 0
    stats["numba_compiles"] = stats["numba_cache_hits"] = 0
    for dispatcher in dispatchers:
        numba_stats = getattr(dispatcher, "stats", None)
        if numba_stats is not None:
            stats["numba_compiles"] += sum(numba_stats.cache_misses.values())
            stats["numba_cache_hits"] += sum(numba_stats.cache_hits.values())
    return stats


def cache_info() -> dict[str, Any]:
    """What the cache directory holds: its path, generated kernel modules, hand-written
    kernel functions with numba files, and the files and bytes of both (graphc's key
    and lock files aside), and the size cap (``max_bytes``, 0 for none).

    >>> import tempfile; from unittest import mock
    >>> source = "from numba import njit\\n@njit(cache=True)\\ndef kernel():\\n    return 1\\n"
    >>> with tempfile.TemporaryDirectory() as d, mock.patch.dict("os.environ", GRAPHC_CACHE_DIR=d):
    ...     _ = load_kernel(source)
    ...     info = cache_info()
    >>> info["kernels"], info["files"], info["bytes"] > 0  # no numba files before a call
    (1, 1, True)
    """
    root = cache_dir()
    files = [f for group in cache_index.entries(root).values() for f in group]
    return {"dir": str(root), "kernels": sum(map(_is_kernel_module, files)),
            "library_functions": sum(map(_is_library_record, files)), "files": len(files),
            "bytes": sum(map(_size, files)), "max_bytes": cache_index.max_bytes()}


def clear_cache() -> dict[str, Any]:
    """Delete every cached kernel (generated modules, hand-written kernels' numba files,
    and those an older graphc left in the installed package) and forget loaded ones.

    Dispatchers already handed out keep working; the next ``load_kernel`` of a source
    writes and compiles it again.

    >>> import tempfile; from unittest import mock
    >>> source = "from numba import njit\\n@njit(cache=True)\\ndef kernel():\\n    return 3\\n"
    >>> with tempfile.TemporaryDirectory() as d, mock.patch.dict("os.environ", GRAPHC_CACHE_DIR=d):
    ...     _ = load_kernel(source)
    ...     removed = clear_cache()
    ...     left = cache_info()
    >>> removed["kernels"], removed["files"], left["kernels"], left["files"]
    (1, 1, 0, 0)
    """
    root = cache_dir()
    doomed = [f for group in cache_index.entries(root).values() for f in group]
    doomed += _legacy_package_files()
    removed = {"dir": str(root), "kernels": 0, "library_functions": 0, "files": 0, "bytes": 0}
    for path in doomed:
        size = _size(path)
        with contextlib.suppress(FileNotFoundError, PermissionError):
            path.unlink()
            removed["files"] += 1
            removed["bytes"] += size
            removed["kernels"] += _is_kernel_module(path)
            removed["library_functions"] += _is_library_record(path)
    for top in (root / "kernels", root / "library"):
        for directory, _, names in sorted(os.walk(top), reverse=True):
            with contextlib.suppress(OSError):  # not empty: a concurrent process wrote
                for name in names:
                    if name in cache_index.BOOKKEEPING:
                        os.unlink(os.path.join(directory, name))
                os.rmdir(directory)
    _forget_loaded_kernels()
    return removed


# ---------------------------------------------------------------------------- loading


class _SourceTextLoader(importlib.machinery.SourceFileLoader):
    """Loads a kernel module from its verified source text, not from the file or a .pyc.

    Code objects still name the file, which numba's cache locator and tracebacks need.
    """

    def __init__(self, fullname: str, path: str, source: str):
        super().__init__(fullname, path)
        self._source = source

    def get_source(self, fullname: str) -> str:
        return self._source

    def get_code(self, fullname: str) -> types.CodeType:
        return compile(self._source, self.path, "exec", dont_inherit=True)


def _import_kernel(key: str, source: str, prefix: str = "k_") -> types.ModuleType:
    from .numba_cache import register_locator

    root = cache_dir()
    kernels_dir = root / "kernels"
    path = kernels_dir / f"{prefix}{key}.py"
    # The file is for people and tracebacks: the import compiles the source text, so a
    # cache that cannot hold it (untrusted, read-only, deleted meanwhile) costs nothing.
    if usable_directory(kernels_dir, root, create=True):
        data = source.encode("utf-8")
        try:
            if write_if_different(path, data):
                _counts["modules_written"] += 1
                cache_index.note_written(root, len(data), f"kernels/{prefix}{key}")
        except FileNotFoundError:
            pass  # cleared by another process meanwhile
        except OSError as exc:
            warn_unwritable(root, exc)
    register_locator()  # before the module's @njit(cache=True) makes numba's cache
    name = f"{KERNEL_PACKAGE}.{prefix}{key}"
    package = sys.modules.get(KERNEL_PACKAGE)
    if package is None:
        package = types.ModuleType(KERNEL_PACKAGE, "Generated graphc kernels.")
        package.__path__ = []
        sys.modules[KERNEL_PACKAGE] = package
    spec = importlib.util.spec_from_file_location(
        name, path, loader=_SourceTextLoader(name, str(path), source))
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: numba names the module of each function it compiles
    # (inspect.getmodule); unregistered, cached code would point at "<dynamic>" and fail
    # to load in the next process.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    setattr(package, f"{prefix}{key}", module)
    return module


def _entry_point(module: types.ModuleType, entry: str) -> Any:
    dispatcher = getattr(module, entry, None)
    if dispatcher is None:
        defined = sorted(n for n in vars(module) if not n.startswith("_"))
        raise AttributeError(f"graphc kernel module {module.__file__} defines no {entry!r} "
                             f"(it defines {defined})")
    if not hasattr(dispatcher, "py_func"):
        raise TypeError(f"graphc kernel module {module.__file__}: {entry!r} is "
                        f"{type(dispatcher).__name__}, not a numba jitted function (@njit, "
                        f"@cuda.jit)")
    return dispatcher


def _dump_source(key: str, source: str) -> None:
    dump_dir = os.environ.get("GRAPHC_DUMP")
    if not dump_dir:
        return
    path = Path(dump_dir).expanduser() / f"{key}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if write_if_different(path, source.encode("utf-8")):
        _counts["sources_dumped"] += 1


def _forget_loaded_kernels() -> None:
    """Drop the in-memory kernels so the next load goes to disk, and let each warning be
    given again (tests, clear_cache)."""
    with _lock:
        _modules.clear()
    forget_warnings()


# ------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=1)
def _numba_version() -> str:
    # From package metadata: reading it does not import numba (0.5 s), which keeps
    # `graphc cache info` quick.
    return importlib.metadata.version("numba")


def _dependency_fingerprints(source: str) -> list[str]:
    """``module=sha256`` for each graphc module the source imports (memoised), the
    digest covering the modules that module imports absolutely in turn (mathlib imports
    mathlib_f32: a change there must rename every kernel too)."""
    return [f"{name}={_module_digest(name, ())}"
            for name in sorted(set(_GRAPHC_IMPORT.findall(source)))]


def _module_digest(name: str, seen: tuple[str, ...]) -> str:
    digest = _dependency_digests.get(name)
    if digest is not None:
        return digest
    try:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        text = Path(origin).read_bytes() if origin and os.path.isfile(origin) else None
    except (ImportError, ValueError, OSError):
        text = None  # the kernel's own import will raise the clear error
    if text is None:
        digest = "missing"
    else:
        h = hashlib.sha256(text)
        for dep in sorted(set(_GRAPHC_IMPORT.findall(text.decode("utf-8", "replace")))):
            if dep != name and dep not in seen:
                h.update(f"{dep}={_module_digest(dep, seen + (name,))}".encode())
        digest = h.hexdigest()
    _dependency_digests[name] = digest
    return digest


def _legacy_package_files() -> list[Path]:
    """numba files an older graphc left beside its hand-written kernels."""
    spec = importlib.util.find_spec(f"{__package__.rsplit('.', 1)[0]}.kernels")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [f for location in spec.submodule_search_locations
            for f in Path(location, "cpu", "__pycache__").glob("*.nb[ic]")]


def _is_kernel_module(path: Path) -> bool:
    """A generated kernel's module: ``k_<key>.py`` (CPU) or ``c_<key>.py`` (CUDA)."""
    return (path.name.startswith(("k_", "c_")) and path.suffix == ".py"
            and path.parent.name == "kernels")


def _is_library_record(path: Path) -> bool:
    return path.name.endswith(cache_index.RECORD_SUFFIX) and path.parent.parent.name == "library"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
