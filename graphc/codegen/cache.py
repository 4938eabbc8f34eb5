"""The on-disk kernel cache: generated kernel source text → a compiled numba dispatcher.

Each kernel source is named by a hash of its text, ``CODEGEN_VERSION``, numba's version and
the files of the graphc modules it imports (``graphc.codegen.mathlib``: numba's own cache
does not notice when a called jitted function changes). The text is written to
``<cache dir>/kernels/k_<hash>.py`` and imported as ``graphc_kernels.k_<hash>``; the
kernel's ``@njit(cache=True)`` then keeps its machine code in ``__pycache__`` beside that
file (or under ``NUMBA_CACHE_DIR``), so a second process loads it instead of compiling.
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

Nothing on disk is trusted:

- A module file whose bytes differ from the source (truncated, garbage, edited) is
  rewritten before import, and the import compiles the *verified source text in memory*
  (never the file, never a ``.pyc``), so the code numba compiles is always the source.
- numba (0.68) stamps its cache with a hash of the file's content, so rewriting identical
  bytes (two processes racing to create the file, a repaired file) never invalidates it.
- A corrupt numba cache file (truncated or garbage ``.nbi`` index or ``.nbc`` data) makes
  numba raise from inside the first call of the kernel. The signature that selects the
  cache entry is only known at that first call, so there is nothing to validate at load
  time without guessing signatures (and loading eagerly would cost every process the
  entries it never calls). Instead the dispatcher's own cache object is guarded: its
  ``load_overload`` (run by numba only when a signature is not yet compiled in this
  process) catches the failure, deletes the kernel's numba cache files, warns with
  ``KernelCacheWarning`` and reports a miss, so numba compiles afresh and writes a clean
  entry. A loaded entry whose signature is not the one asked for (numba's index and data
  files raced between two processes compiling different signatures) is treated the same
  way. The object returned is numba's dispatcher itself: no wrapper, no per-call cost.
  The guard uses numba internals (``Dispatcher._cache``, ``Cache.load_overload`` and
  ``save_overload``, ``Cache._impl.filename_base``), unchanged for years; the corruption
  tests in tests/codegen/test_cache.py fail if a numba release moves them.
  Out of reach: data files whose machine code is damaged but still unpickles (numba
  keeps no checksum); ``graphc cache clear`` is the remedy.
- Writes go to a temporary file in the same directory and ``os.replace`` it (numba's own
  cache writes do the same), so a concurrent reader sees the old file or the new one.
  No fsync: a file torn by a crash is detected by the content check above.
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
import tempfile
import threading
import types
import warnings
from pathlib import Path
from typing import Any

#: Bump when code generation changes what a source text means at run time (new helpers,
#: different calling conventions): it renames every kernel, so old cache entries are unused.
CODEGEN_VERSION = 7

KERNEL_PACKAGE = "graphc_kernels"  # parent of the kernel modules in sys.modules
KEY_LENGTH = 24  # hex digits of sha256 kept in a kernel key (96 bits)

_GRAPHC_IMPORT = re.compile(r"^\s*(?:from|import)\s+(graphc(?:\.\w+)*)\b", re.MULTILINE)


class KernelCacheWarning(RuntimeWarning):
    """A cache entry on disk was corrupt and has been rebuilt."""


_lock = threading.RLock()
_modules: dict[str, types.ModuleType] = {}  # kernel key → imported kernel module
_dispatchers: list[Any] = []  # every dispatcher handed out, for compile_stats()
_counts = {"memory_hits": 0, "modules_imported": 0, "modules_written": 0,
           "numba_cache_rebuilds": 0, "sources_dumped": 0}
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
    key = kernel_key(source)
    with _lock:
        module = _modules.get(key)
        if module is not None:
            _counts["memory_hits"] += 1
        else:
            module = _import_kernel(key, source)
            _modules[key] = module
            _counts["modules_imported"] += 1
        dispatcher = _entry_point(module, entry)
        if not getattr(dispatcher, "_graphc_registered", False):
            guard_numba_cache(dispatcher)
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
    stats["numba_compiles"] = stats["numba_cache_hits"] = 0
    for dispatcher in dispatchers:
        numba_stats = getattr(dispatcher, "stats", None)
        if numba_stats is not None:
            stats["numba_compiles"] += sum(numba_stats.cache_misses.values())
            stats["numba_cache_hits"] += sum(numba_stats.cache_hits.values())
    return stats


def cache_info() -> dict[str, Any]:
    """What the cache directory holds: its path, kernel modules, files and total bytes.

    Files numba keeps under ``NUMBA_CACHE_DIR`` (when set) are not counted.

    >>> import tempfile; from unittest import mock
    >>> source = "from numba import njit\\n@njit(cache=True)\\ndef kernel():\\n    return 1\\n"
    >>> with tempfile.TemporaryDirectory() as d, mock.patch.dict("os.environ", GRAPHC_CACHE_DIR=d):
    ...     _ = load_kernel(source)
    ...     info = cache_info()
    >>> info["kernels"], info["files"], info["bytes"] > 0  # no numba files before a call
    (1, 1, True)
    """
    root = cache_dir()
    files = _files_under(root)
    kernels = [f for f in files if f.parent == root / "kernels" and _is_kernel_module(f)]
    return {"dir": str(root), "kernels": len(kernels), "files": len(files),
            "bytes": sum(_size(f) for f in files)}


def clear_cache() -> dict[str, Any]:
    """Delete the cached kernels (and their numba cache files) and forget loaded ones.

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
    kernels_dir = root / "kernels"
    doomed = _files_under(kernels_dir)
    numba_dir = _numba_user_cache_dir(kernels_dir)
    if numba_dir is not None:
        doomed += [f for f in _files_under(numba_dir) if f.name.startswith("k_")]
    removed = {"dir": str(root), "kernels": 0, "files": 0, "bytes": 0}
    for path in doomed:
        size = _size(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed["files"] += 1
            removed["bytes"] += size
            removed["kernels"] += path.parent == kernels_dir and _is_kernel_module(path)
    for directory in (kernels_dir / "__pycache__", kernels_dir):
        with contextlib.suppress(OSError):  # not empty: a concurrent process wrote there
            directory.rmdir()
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


def _import_kernel(key: str, source: str) -> types.ModuleType:
    kernels_dir = cache_dir() / "kernels"
    path = kernels_dir / f"k_{key}.py"
    try:
        kernels_dir.mkdir(parents=True, exist_ok=True)
        if _write_if_different(path, source.encode("utf-8")):
            _counts["modules_written"] += 1
    except OSError as exc:
        raise OSError(f"graphc kernel cache: cannot write {path} ({exc}); point "
                      f"GRAPHC_CACHE_DIR at a writable directory") from exc
    name = f"{KERNEL_PACKAGE}.k_{key}"
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
    setattr(package, f"k_{key}", module)
    return module


def _entry_point(module: types.ModuleType, entry: str) -> Any:
    dispatcher = getattr(module, entry, None)
    if dispatcher is None:
        defined = sorted(n for n in vars(module) if not n.startswith("_"))
        raise AttributeError(f"graphc kernel module {module.__file__} defines no {entry!r} "
                             f"(it defines {defined})")
    if not hasattr(dispatcher, "py_func"):
        raise TypeError(f"graphc kernel module {module.__file__}: {entry!r} is "
                        f"{type(dispatcher).__name__}, not a numba jitted function (@njit)")
    return dispatcher


def _dump_source(key: str, source: str) -> None:
    dump_dir = os.environ.get("GRAPHC_DUMP")
    if not dump_dir:
        return
    path = Path(dump_dir).expanduser() / f"{key}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if _write_if_different(path, source.encode("utf-8")):
        _counts["sources_dumped"] += 1


def _forget_loaded_kernels() -> None:
    """Drop the in-memory kernels so the next load goes to disk (tests, clear_cache)."""
    with _lock:
        _modules.clear()


# ------------------------------------------------------------------ numba cache guard


def guard_numba_cache(dispatcher: Any) -> None:
    """Make this dispatcher's numba cache treat a corrupt entry as a miss (module doc):
    generated kernels get it from :func:`load_kernel`, the hand-written ones in
    :mod:`graphc.kernels.cpu` when their module is imported.

    >>> from numba import njit
    >>> guard_numba_cache(njit(lambda x: x))   # no cache=True: nothing to guard
    """
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or not hasattr(cache, "_cache_file"):
        return  # compiled without cache=True: nothing on disk to guard
    load_overload, save_overload = cache.load_overload, cache.save_overload

    def guarded_load(sig, target_context):
        try:
            compiled = load_overload(sig, target_context)
        except Exception as exc:  # corrupt .nbi/.nbc: pickle or rebuild errors
            _discard_numba_entries(cache, repr(exc))
            return None
        if compiled is not None and not _signature_matches(compiled, sig):
            _discard_numba_entries(cache, f"entry holds {compiled.signature}, not {sig}")
            return None
        return compiled

    def guarded_save(sig, data):
        try:
            save_overload(sig, data)
        except Exception as exc:  # an index corrupted since we loaded it
            _discard_numba_entries(cache, repr(exc))
            try:
                save_overload(sig, data)
            except Exception as again:  # caching is best effort; the code is compiled
                warnings.warn(f"graphc: could not save numba cache for {cache!r}: {again!r}",
                              KernelCacheWarning, stacklevel=2)

    cache.load_overload = guarded_load
    cache.save_overload = guarded_save


def _signature_matches(compiled: Any, sig: Any) -> bool:
    from numba.core import sigutils

    args, _ = sigutils.normalize_signature(sig)
    return tuple(compiled.signature.args) == tuple(args)


def _discard_numba_entries(cache: Any, reason: str) -> None:
    """Delete one function's numba index and data files; numba then recompiles."""
    base = cache._impl.filename_base
    directory = Path(cache.cache_path)
    doomed = [directory / f"{base}.nbi", *directory.glob(f"{_glob_escape(base)}.*.nbc")]
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    # No _lock here: numba holds its compiler lock while calling us, and load_kernel holds
    # _lock while a kernel module runs; taking both in opposite orders could deadlock.
    _counts["numba_cache_rebuilds"] += 1
    warnings.warn(f"graphc: corrupt numba cache entry {directory / base}.* deleted and "
                  f"rebuilt ({reason})", KernelCacheWarning, stacklevel=3)


# ------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=1)
def _numba_version() -> str:
    # From package metadata: reading it does not import numba (0.5 s), which keeps
    # `graphc cache info` quick.
    return importlib.metadata.version("numba")


def _dependency_fingerprints(source: str) -> list[str]:
    """``module=sha256`` for each graphc module the source imports (memoised)."""
    fingerprints = []
    for name in sorted(set(_GRAPHC_IMPORT.findall(source))):
        digest = _dependency_digests.get(name)
        if digest is None:
            try:
                spec = importlib.util.find_spec(name)
                origin = spec.origin if spec is not None else None
                digest = hashlib.sha256(Path(origin).read_bytes()).hexdigest() if (
                    origin and os.path.isfile(origin)) else "missing"
            except (ImportError, ValueError, OSError):
                digest = "missing"  # the kernel's own import will raise the clear error
            _dependency_digests[name] = digest
        fingerprints.append(f"{name}={digest}")
    return fingerprints


def _write_if_different(path: Path, data: bytes) -> bool:
    """Atomically (re)write ``path`` unless it already holds exactly ``data``."""
    try:
        if path.read_bytes() == data:
            return False
    except (FileNotFoundError, IsADirectoryError):
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache file is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def _numba_user_cache_dir(kernels_dir: Path) -> Path | None:
    """Where numba keeps the kernels' cache files when ``NUMBA_CACHE_DIR`` is set.

    Mirrors numba's ``_CacheLocator.get_suitable_cache_subpath``.
    """
    numba_cache = os.environ.get("NUMBA_CACHE_DIR")
    if not numba_cache:
        return None
    source_dir = os.path.abspath(kernels_dir)
    hashed = hashlib.sha1(source_dir.encode()).hexdigest()
    return Path(numba_cache) / f"{os.path.basename(source_dir)}_{hashed}"


def _is_kernel_module(path: Path) -> bool:
    return path.name.startswith("k_") and path.suffix == ".py"


def _files_under(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [Path(d) / f for d, _, names in os.walk(root) for f in names]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
