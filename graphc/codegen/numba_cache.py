"""numba's on-disk cache for graphc's kernels: located in graphc's cache, verified first.

Every numba dispatcher of graphc (generated kernels, ``graphc_kernels.k_<key>``, and the
hand-written ones in ``graphc.kernels``) gets a :class:`KernelCache` in place of numba's
``FunctionCache`` (:func:`use_graphc_cache`); generated CUDA kernels
(``graphc_kernels.c_<key>``) get its numba-cuda twin, which shares its logic
(:class:`VerifiedCache`, :mod:`graphc.codegen.cuda_cache`). It differs from numba's in
three ways:

- **Where**: ``<cache>/kernels/__pycache__`` for generated kernels and
  ``<cache>/library/<module>-<hash of its file>`` for hand-written ones, with ``<cache>``
  read at each load and save (``GRAPHC_CACHE_DIR``). A :class:`GraphcLocator`, first in
  numba's list of cache locators, claims exactly these modules, so a ``cache=True``
  in their source never makes numba write elsewhere; ``NUMBA_CACHE_DIR`` (the user's
  own numba caches) is never read or set.
- **Trust**: nothing is loaded from a directory others can write, and nothing is saved
  where graphc cannot write (:func:`graphc.codegen.cache_files.usable_directory`): the
  kernel compiles in memory, with one warning.
- **Verification**: each file numba writes is recorded with its digest in graphc's own
  record (:mod:`graphc.codegen.cache_index`), and each file is checked against that
  record before numba unpickles it. A file that fails (copied from another kernel,
  stale, planted, corrupt) is deleted with its entry, one ``KernelCacheWarning`` is
  given, and the kernel is compiled afresh.

>>> from numba import njit
>>> @njit
... def twice(x):
...     return 2 * x
>>> use_graphc_cache(twice)       # graphc's kernels do this; shown on a local function
>>> twice(21), type(twice._cache).__name__
(42, 'KernelCache')

Internals of numba used (unchanged since 0.49): ``Dispatcher._cache``,
``FunctionCache`` (``_index_key``, ``_impl`` with ``reduce``/``rebuild``/
``check_cachable``/``filename_base``), ``IndexDataCacheFile``'s file format and
``CacheImpl._locator_classes``; tests/codegen/test_cache_trust.py fails if they move.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import pickle
from pathlib import Path
from typing import Any

from numba.core.caching import (
    CacheImpl,
    CompileResultCacheImpl,
    FunctionCache,
    IndexDataCacheFile,
    NullCache,
    _CacheLocator,
)

from . import cache_index
from .cache_files import (
    locked,
    remove_files,
    untrusted_reason,
    usable_directory,
    warn_once,
    warn_unwritable,
    writable,
    write_atomic,
)

GENERATED = "graphc_kernels."  # generated kernel modules (graphc.codegen.cache)
LIBRARY = "graphc.kernels."  # hand-written kernels, installed with graphc

_counts = {"numba_cache_rebuilds": 0}


class UntrustedEntry(Exception):
    """A numba cache file that graphc's record does not vouch for."""


class GraphcLocator(_CacheLocator):
    """Locates the numba cache of graphc's own modules in graphc's cache directory
    (read at each call); ignores every other function (numba's locators handle them)."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        self._module = py_func.__module__
        self._qualname = py_func.__qualname__
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._file_hash: str | None = None

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> GraphcLocator | None:
        module = getattr(py_func, "__module__", None) or ""
        return cls(py_func, py_file) if module.startswith((GENERATED, LIBRARY)) else None

    def root(self) -> Path:
        from .cache import cache_dir

        return cache_dir()

    def directory(self) -> Path:
        root = self.root()
        if self._module.startswith(GENERATED):
            return root / "kernels" / "__pycache__"
        return root / "library" / f"{self._module.rsplit('.', 1)[-1]}-{self.file_hash()[:12]}"

    def binding(self) -> str:
        """What the entry must belong to: the kernel key, or module, function and the
        hash of the file that defines it."""
        if self._module.startswith(GENERATED):
            return self._module[len(GENERATED) + 2:]  # graphc_kernels.k_<key> or c_<key>
        return f"{self._module}.{self._qualname}@{self.file_hash()[:24]}"

    def file_hash(self) -> str:
        if self._file_hash is None:
            try:
                with open(self._py_file, "rb") as f:
                    self._file_hash = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                self._file_hash = "unreadable"
        return self._file_hash

    def ensure_cache_path(self) -> None:
        if not usable_directory(self.directory(), self.root(), create=True):
            raise PermissionError(f"graphc: cannot use {self.directory()}")

    def get_cache_path(self) -> str:
        return str(self.directory())

    def get_source_stamp(self) -> str:
        return self.binding()  # the key already hashes the source

    def get_disambiguator(self) -> str:
        return str(self._lineno)


def register_locator() -> None:
    """Put :class:`GraphcLocator` first in numba's locator list (idempotent)."""
    if GraphcLocator not in CacheImpl._locator_classes:
        CacheImpl._locator_classes.insert(0, GraphcLocator)


class _AnyFunctionLocator(GraphcLocator):
    """The locator of a :class:`KernelCache`: whatever function it was given."""

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> GraphcLocator:
        return cls(py_func, py_file)


class _KernelCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_AnyFunctionLocator]


class _VerifiedFile(IndexDataCacheFile):
    """numba's index and data files, read and written through graphc's record."""

    def __init__(self, cache: VerifiedCache, directory: Path) -> None:
        super().__init__(str(directory), cache._impl.filename_base, cache._binding)
        self._directory = directory
        self._root = cache._impl.locator.root()
        self._binding = cache._binding
        self.record = directory / f"{cache._impl.filename_base}{cache_index.RECORD_SUFFIX}"
        self._recorded: dict[str, str] | None = None

    def _read(self, name: str) -> bytes | None:
        path = self._directory / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if self._recorded is None:  # read once per load: index and data agree
            self._recorded = cache_index.read_record(self.record, self._binding)
        if not cache_index.verified_bytes(path, data, self.record, self._root, self._binding,
                                          self._recorded):
            raise UntrustedEntry(f"{name} does not match graphc's record of this kernel")
        return data

    def _load_index(self) -> dict:
        data = self._read(self._index_name)
        if data is None:
            return {}
        stream = io.BytesIO(data)
        if pickle.load(stream) != self._version:  # verified: safe to unpickle
            return {}
        stamp, overloads = pickle.loads(stream.read())
        return overloads if stamp == self._source_stamp else {}

    def _load_data(self, name: str) -> Any:
        data = self._read(name)
        if data is None:
            raise FileNotFoundError(name)  # numba's load() reports a miss
        return pickle.loads(data)

    def save(self, key: Any, data: Any) -> int:
        """Save one signature's entry and its record; returns the bytes written."""
        try:
            overloads = self._load_index()
        except Exception:  # unverified or corrupt: start the entry afresh
            overloads = {}
        data_name = overloads.get(key)
        if data_name is None:
            taken = set(overloads.values())
            data_name = next(n for n in map(self._data_name, itertools.count(1))
                             if n not in taken)
            overloads[key] = data_name
        payload = self._dump(data)
        index = pickle.dumps(self._version, protocol=-1) + self._dump(
            (self._source_stamp, overloads))
        previous = cache_index.read_record(self.record, self._binding) or {}
        kept = {n: d for n, d in previous.items() if n in overloads.values()}
        write_atomic(self._directory / data_name, payload)
        write_atomic(self._directory / self._index_name, index)
        return len(payload) + len(index) + cache_index.write_record(
            self.record, self._root, self._binding,
            {data_name: payload, self._index_name: index}, kept)

    def files(self) -> list[Path]:
        """The entry's files: index, data files and record."""
        return list(self._directory.glob(f"{_glob_escape(self._index_name[:-4])}.*"))


class VerifiedCache:
    """Loading and saving one function's numba cache entry through graphc's record
    (module doc): mixed into numba's cache class, :class:`KernelCache` for CPU kernels,
    :class:`graphc.codegen.cuda_cache.CudaKernelCache` for CUDA ones (numba-cuda keeps
    its own copy of numba's cache classes, with the same files and protocol)."""

    _file_class = _VerifiedFile  # the entry's files, read and written verified

    def __init__(self, py_func: Any) -> None:
        super().__init__(py_func)
        self._binding = self._impl.locator.binding()

    @property
    def cache_path(self) -> str:
        return self._impl.locator.get_cache_path()

    def _usable(self, create: bool) -> Path | None:
        locator = self._impl.locator
        directory = locator.directory()
        return directory if usable_directory(directory, locator.root(), create) else None

    def is_saved(self) -> bool:
        """Whether a helper process could add nothing: the entry exists, or the cache
        cannot be used at all."""
        directory, root = self._impl.locator.directory(), self._impl.locator.root()
        if untrusted_reason(directory, root) is not None or not writable(directory):
            return True
        return self._file_class(self, directory).record.exists()

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        if not self._enabled:
            return None
        directory = self._usable(create=False)
        if directory is None:
            return None
        target_context.refresh()
        cache_file = self._file_class(self, directory)
        key = self._index_key(sig, target_context.codegen())
        try:
            with locked(directory, exclusive=False):
                payload = cache_file.load(key)
                compiled = None if payload is None else self._impl.rebuild(
                    target_context, payload)
        except UntrustedEntry as exc:
            self._discard(cache_file, f"{exc}: corrupt, copied, stale or planted")
            return None
        except Exception as exc:  # verified but unreadable: pickle or rebuild errors
            self._discard(cache_file, f"corrupt: {exc!r}")
            return None
        if compiled is not None and not _signature_matches(compiled, sig):
            self._discard(cache_file, f"corrupt: entry holds {compiled.signature}, not {sig}")
            return None
        if compiled is not None:
            cache_index.touch(cache_file.record)
        return compiled

    def save_overload(self, sig: Any, data: Any) -> None:
        if not self._enabled:
            return
        try:
            if not self._impl.check_cachable(data):
                return
            directory = self._usable(create=True)
            if directory is None:
                return
            cache_file = self._file_class(self, directory)
            key = self._index_key(sig, data.codegen)
            payload = self._impl.reduce(data)
            with locked(directory, exclusive=True):
                written = cache_file.save(key, payload)
            cache_index.note_written(self._impl.locator.root(), written, _group(directory,
                                     self._impl.filename_base))
        except FileNotFoundError:
            pass  # the cache was cleared meanwhile: the kernel is compiled, in memory
        except OSError as exc:
            warn_unwritable(self._impl.locator.root(), exc)
        except Exception as exc:  # caching is best effort; the code is compiled
            warn_once("save", repr(self), f"graphc: could not save the numba cache of "
                      f"{self._impl.filename_base} ({exc!r}); it compiles again next time")

    def flush(self) -> None:
        directory = self._usable(create=False)
        if directory is not None:
            with locked(directory, exclusive=True):
                remove_files(self._file_class(self, directory).files())

    def _discard(self, cache_file: _VerifiedFile, reason: str) -> None:
        with locked(cache_file._directory, exclusive=True):
            remove_files(cache_file.files())
        # No graphc lock here: numba holds its compiler lock while calling us.
        _counts["numba_cache_rebuilds"] += 1
        warn_once("rebuilt", str(cache_file.record),
                  f"graphc: numba cache entry {cache_file._directory / self._impl.filename_base}"
                  f".* deleted and rebuilt ({reason})")


class KernelCache(VerifiedCache, FunctionCache):
    """numba's per-function cache for one of graphc's CPU kernels (module doc)."""

    _impl_class = _KernelCacheImpl


def use_graphc_cache(*dispatchers: Any) -> None:
    """Give numba dispatchers graphc's verified on-disk cache (module doc); the
    hand-written kernels call it on theirs, :func:`graphc.codegen.cache.load_kernel` on
    each generated kernel. A dispatcher that has one already is left as it is."""
    register_locator()
    for dispatcher in dispatchers:
        if not isinstance(getattr(dispatcher, "_cache", None), KernelCache):
            dispatcher._cache = KernelCache(dispatcher.py_func)


def use_graphc_cache_in(module: Any) -> None:
    """:func:`use_graphc_cache` on each dispatcher ``module`` defines with ``cache=True``."""
    use_graphc_cache(*(value for value in vars(module).values()
                       if getattr(getattr(value, "py_func", None), "__module__", None)
                       == module.__name__ and hasattr(value, "_cache")
                       and not isinstance(value._cache, NullCache)))


def rebuild_count() -> int:
    return _counts["numba_cache_rebuilds"]


def _signature_matches(compiled: Any, sig: Any) -> bool:
    from numba.core import sigutils

    args, _ = sigutils.normalize_signature(sig)
    return tuple(compiled.signature.args) == tuple(args)


def _group(directory: Path, filename_base: str) -> str:
    if directory.parent.name == "kernels":
        return "kernels/" + filename_base.split(".", 1)[0]
    return "library/" + directory.name


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
