"""The kernel cache's files: which directories graphc may use, and how it writes there.

graphc treats its cache directory like ssh treats ``~/.ssh`` (``StrictModes``): it loads
compiled code from a directory only when that directory, every directory between it and
the cache root, and the root itself are owned by the user (or root) and writable by
nobody else; the root's parents may also be world-writable if sticky, like ``/tmp``.
Anywhere else it compiles in memory and says so once (:func:`usable_directory`).

Files are written whole to a temporary file and renamed over the old one
(:func:`write_atomic`), so a reader sees the old file or the new one, with the mode the
umask gives (read once, at import). Writers and readers of one directory's entries hold
a lock file (:func:`locked`) so an entry and its digests change together.

>>> import tempfile
>>> from pathlib import Path
>>> root = Path(tempfile.mkdtemp())            # mkdtemp makes 0700 directories
>>> untrusted_reason(root / "kernels", root) is None
True
>>> usable_directory(root / "kernels", root, create=True), (root / "kernels").is_dir()
(True, True)
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..fileio import UMASK, atomic_write

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: entries are written unlocked
    fcntl = None

LOCK_NAME = ".lock"  # one per directory of numba files


class KernelCacheWarning(RuntimeWarning):
    """A cache entry on disk was corrupt, stale or foreign and has been rebuilt, or the
    cache directory cannot be used and kernels compile in memory."""


FILE_MODE = 0o644 & ~UMASK  # what the umask gives, never group/other-writable
DIR_MODE = 0o755 & ~UMASK

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(kind: str, where: str, message: str) -> None:
    """Warn ``message`` (a KernelCacheWarning) once per process for ``(kind, where)``."""
    with _warned_lock:
        if (kind, where) in _warned:
            return
        _warned.add((kind, where))
    warnings.warn(message, KernelCacheWarning, stacklevel=3)


def forget_warnings() -> None:
    """Let every warning be given again (tests)."""
    with _warned_lock:
        _warned.clear()


# --------------------------------------------------------------------------- trust


def untrusted_reason(directory: Path, root: Path) -> str | None:
    """Why compiled code must not be loaded from ``directory`` (inside cache ``root``).

    None when the root's real path, each of its parents, and each directory from the
    root down to ``directory`` are owned by the user or root and writable by nobody
    else; parents of the root may be world-writable if sticky (``/tmp``). Directories
    that do not exist yet are not checked (graphc creates them). Below the root a
    symbolic link is refused: graphc never makes one.

    >>> root = Path("/tmp/no-such-graphc-cache")
    >>> untrusted_reason(root / "kernels", root) is None    # /tmp is sticky: fine
    True
    """
    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    real_root = Path(os.path.realpath(root))
    for parent in reversed(real_root.parents):
        reason = _bad_owner_or_mode(parent, uid, sticky_ok=True)
        if reason:
            return reason
    path = real_root
    for part in (None, *Path(directory).relative_to(root).parts):
        path = path if part is None else path / part
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None  # nothing there to load; creating it will fail or check it
        except OSError as exc:
            return f"{path} cannot be examined ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            return f"{path} is a symbolic link"
        reason = _bad_owner_or_mode(path, uid, sticky_ok=False, st=st)
        if reason:
            return reason
    return None


def _bad_owner_or_mode(path: Path, uid: int, sticky_ok: bool,
                       st: os.stat_result | None = None) -> str | None:
    if st is None:
        try:
            st = os.stat(path)
        except OSError as exc:
            return None if exc.errno == errno.ENOENT else (
                f"{path} cannot be examined ({exc.strerror})")
    if st.st_uid not in (uid, 0):
        return f"{path} is owned by uid {st.st_uid}, neither you (uid {uid}) nor root"
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        who = "group and others" if writable == (stat.S_IWGRP | stat.S_IWOTH) else (
            "its group" if writable == stat.S_IWGRP else "others")
        return f"{path} is writable by {who} (fix: chmod go-w {path})"
    return None


def usable_directory(directory: Path, root: Path, create: bool) -> bool:
    """Whether graphc may use ``directory`` of cache ``root`` (creating it if asked).

    An untrusted directory, or one that cannot be created, warns once per cache root
    and process; then kernels compile in memory. A directory deleted meanwhile (``graphc
    cache clear`` in another process) is created again; without ``create``, a missing
    directory is simply not usable (nothing to load).
    """
    reason = untrusted_reason(directory, root)
    if reason is not None:
        warn_once("untrusted", str(root),
                  f"graphc: not using the kernel cache {root} ({reason}); compiling in "
                  f"memory. Fix its permissions or set GRAPHC_CACHE_DIR to a directory "
                  f"only you can write")
        return False
    if not create:
        return directory.is_dir()
    try:
        make_directories(directory, root)
    except OSError as exc:
        warn_unwritable(root, exc)
        return False
    return True


def warn_unwritable(root: Path, exc: OSError) -> None:
    """The one warning of a process whose cache ``root`` cannot be written."""
    warn_once("unwritable", str(root),
              f"graphc: cannot write the kernel cache {root} ({exc.strerror}: "
              f"{exc.filename}); compiling in memory. Set GRAPHC_CACHE_DIR to a directory "
              f"you can write")


def make_directories(directory: Path, root: Path, attempts: int = 5) -> None:
    """Create ``directory`` and its missing parents, none group/other-writable; retried
    when a concurrent ``graphc cache clear`` removes a parent meanwhile."""
    for attempt in range(attempts):
        try:
            missing = []
            path = Path(directory)
            while not path.is_dir():
                missing.append(path)
                if path.parent == path:
                    break
                path = path.parent
            for path in reversed(missing):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path, DIR_MODE)
            return
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise


def writable(directory: Path) -> bool:
    """Whether ``directory``, or its nearest existing parent, is writable by this user."""
    path = Path(directory)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK)


# --------------------------------------------------------------------------- writing


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write a cache file atomically with ``mode`` (graphc.fileio.atomic_write, without
    the fsync: a file a crash tears fails its digest and is rebuilt).

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "entry"
    >>> write_atomic(target, b"compiled"); target.read_bytes()
    b'compiled'
    """
    atomic_write(path, data, mode=mode, durable=False)


def write_if_different(path: Path, data: bytes) -> bool:
    """Atomically (re)write ``path`` unless it already holds exactly ``data``."""
    try:
        if path.read_bytes() == data:
            return False
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
    write_atomic(path, data)
    return True


@contextlib.contextmanager
def locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """Hold ``directory``'s lock file, shared or exclusive (unlocked where there is none:
    a read-only or vanished directory)."""
    fd = -1
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
        if fd < 0 and not exclusive:
            with contextlib.suppress(OSError):
                fd = os.open(directory / LOCK_NAME, os.O_RDONLY)
    try:
        if fd >= 0:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        if fd >= 0:
            os.close(fd)


def remove_files(paths: list[Path]) -> int:
    """Delete ``paths`` (missing ones are fine); returns the bytes freed."""
    freed = 0
    for path in paths:
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            freed += size
    return freed
