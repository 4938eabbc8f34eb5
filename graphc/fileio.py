"""Writing user-facing files: atomically, with the mode an ordinary ``open`` would give.

Every file graphc writes for the user (``graphc.save``, ``CompiledFunction.dump``,
``graphc run`` outputs, ``graphc viz`` exports) goes through :func:`atomic_write`:

- the data goes to a temporary file in the destination folder, is flushed to disk and
  then renamed over the target (``os.replace``), so a crash or a full disk never leaves a
  half-written file under the target's name, and readers see the old or the new file;
- a new file gets the mode ``open(path, "w")`` would give it: ``0o666`` less the
  process umask; an existing file keeps its mode (re-saving a ``0644`` checkpoint leaves
  it ``0644``; a ``0600`` one stays private).

The umask is read once, when this module is imported, from ``/proc/self/status`` where
the kernel reports it (Linux 4.7 and later), else with one ``os.umask`` round trip. It is
never changed and read back at call time: that round trip races with other threads
creating files.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
>>> atomic_write(path, b"hello")
>>> open(path, "rb").read()
b'hello'
>>> oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~UMASK)
True
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from typing import IO

__all__ = ["UMASK", "atomic_write", "new_file_mode"]


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # once, at import (no other graphc thread exists yet)
    os.umask(mask)
    return mask


UMASK: int = _read_umask()


def new_file_mode() -> int:
    """The permission bits a new file gets: ``0o666`` less the umask read at import.

    >>> new_file_mode() == 0o666 & ~UMASK
    True
    """
    return 0o666 & ~UMASK


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[IO[bytes]], object],
                 mode: int | None = None, durable: bool = True) -> None:
    """Write ``data`` (bytes, or a function that writes to a binary file) to ``path``
    atomically; a new file gets the umask's mode, an existing one keeps its own, unless
    ``mode`` is given. ``durable=False`` skips the fsync (a cache entry a crash may tear
    is detected by its digest and rebuilt: graphc.codegen.cache_files).

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> atomic_write(path, lambda f: np.save(f, np.arange(3)))
    >>> np.load(path)
    array([0, 1, 2])
    >>> os.chmod(path, 0o640); atomic_write(path, b"new"); oct(os.stat(path).st_mode & 0o777)
    '0o640'
    """
    path = os.fspath(path)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = new_file_mode()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # mkstemp makes 0600
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:  # already gone, or its folder deleted meanwhile
            pass
        raise
