"""graphc's own index of numba's cache files: a digest of each, bound to its kernel.

numba keeps a kernel's compiled code in pickles (an index ``<base>.nbi`` and a data file
``<base>.<n>.nbc`` per signature) and unpickles whatever it finds under those names. So
that it only ever unpickles what graphc saw it write for that kernel, graphc writes a
record beside them, ``<base>.graphc.json``: plain JSON (never a pickle) naming the
kernel's key and, for each file, an HMAC-SHA256 of the key, the file's name and its
bytes. The HMAC key is a random secret made once per cache directory (``cache.key``,
mode 0600), so an entry copied in from elsewhere, or a record written by hand, does not
verify either. Every file is checked against the record *before* it is unpickled
(:func:`verified_bytes`); a file that fails is deleted and its kernel recompiled.

>>> import tempfile
>>> from pathlib import Path
>>> root = Path(tempfile.mkdtemp())
>>> record = root / "k_0f.kernel-9.py311.graphc.json"
>>> _ = write_record(record, root, "0f", {"k_0f.kernel-9.py311.nbi": b"index bytes"})
>>> verified_bytes(root / "k_0f.kernel-9.py311.nbi", b"index bytes", record, root, "0f")
True
>>> verified_bytes(root / "k_0f.kernel-9.py311.nbi", b"other bytes", record, root, "0f")
False

The record's modification time is the entry's last use (it is touched at each load), so
the cache can evict least recently used entries when it grows past its size cap
(:func:`max_bytes`, ``GRAPHC_CACHE_MAX_BYTES``; :func:`evict`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path

from .cache_files import FILE_MODE, locked, remove_files, warn_once, write_atomic

RECORD_SUFFIX = ".graphc.json"
SECRET_NAME = "cache.key"
RECORD_FORMAT = 1
MAX_RECORD_BYTES = 1 << 20  # a record lists a few files; anything larger is not ours
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB
BOOKKEEPING = {SECRET_NAME, ".lock"}  # not cache entries: never counted or evicted

_secrets: dict[str, tuple[tuple[int, int, int], bytes]] = {}
_secrets_lock = threading.Lock()


def secret(root: Path, create: bool = True) -> bytes | None:
    """The cache's HMAC key (``<root>/cache.key``), made on first use when ``create``
    (an OSError if it cannot be), else None when there is none. Re-read when the file
    changes (``graphc cache clear`` and a new one made by another process)."""
    path = Path(root) / SECRET_NAME
    for _ in range(3):
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            with _secrets_lock:
                known = _secrets.get(str(path))
            if known is not None and known[0] == stamp:
                return known[1]
            value = bytes.fromhex(path.read_bytes().strip().decode("ascii"))
            if len(value) < 16:
                raise ValueError("too short")
            with _secrets_lock:
                _secrets[str(path)] = (stamp, value)
            return value
        except FileNotFoundError:
            if not create:
                return None
            _make_secret(path)
        except (ValueError, UnicodeDecodeError):  # damaged: a new key (entries rebuild)
            if not create:
                return None
            write_atomic(path, secrets.token_hex(32).encode(), mode=0o600)
        except OSError:
            if create:
                raise
            return None
    raise FileNotFoundError(errno.ENOENT, "keeps vanishing", str(path))


def _make_secret(path: Path) -> None:
    """Create the key file unless another process just did (link fails if it exists)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def digest(key: bytes, binding: str, name: str, data: bytes) -> str:
    """HMAC-SHA256 of a cache file's bytes, bound to its kernel and its file name."""
    mac = hmac.new(key, f"{binding}\0{name}\0".encode(), hashlib.sha256)
    mac.update(data)
    return mac.hexdigest()


def read_record(record: Path, binding: str) -> dict[str, str] | None:
    """The ``{file name: digest}`` of a record, if it is one for ``binding``."""
    try:
        with open(record, "rb") as f:
            text = f.read(MAX_RECORD_BYTES + 1)
        if len(text) > MAX_RECORD_BYTES:
            return None
        data = json.loads(text)
    except (OSError, ValueError, RecursionError):
        return None
    if (not isinstance(data, dict) or data.get("format") != RECORD_FORMAT
            or data.get("key") != binding or not isinstance(data.get("files"), dict)):
        return None
    files = data["files"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return files


def verified_bytes(path: Path, data: bytes, record: Path, root: Path, binding: str,
                   files: dict[str, str] | None = None) -> bool:
    """Whether ``data`` (read from ``path``) is what the record for ``binding`` says
    (``files``: the record, when the caller has read it already)."""
    if files is None:
        files = read_record(record, binding)
    key = secret(root, create=False)
    if files is None or key is None or path.name not in files:
        return False
    return hmac.compare_digest(files[path.name], digest(key, binding, path.name, data))


def write_record(record: Path, root: Path, binding: str, files: dict[str, bytes],
                 kept: dict[str, str] | None = None) -> int:
    """Write the record of ``files`` (name → bytes just written) plus ``kept`` digests
    of files already recorded; returns the bytes written. Raises OSError when no key can
    be made (FileNotFoundError: the cache was deleted meanwhile)."""
    key = secret(root)
    digests = dict(kept or {})
    digests.update({name: digest(key, binding, name, data) for name, data in files.items()})
    text = json.dumps({"format": RECORD_FORMAT, "key": binding, "files": digests},
                      indent=1, sort_keys=True).encode()
    write_atomic(record, text, FILE_MODE)
    return len(text)


def touch(record: Path) -> None:
    """Mark an entry used now (its record's mtime is the clock of the size cap)."""
    with contextlib.suppress(OSError):
        os.utime(record)


# ----------------------------------------------------------------------- size cap


def max_bytes() -> int:
    """The cache's size cap in bytes: ``GRAPHC_CACHE_MAX_BYTES`` (a number of bytes,
    or with a K, M or G suffix: ``500M``), 2 GiB by default, 0 for no cap.

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", GRAPHC_CACHE_MAX_BYTES="500M"):
    ...     max_bytes()
    524288000
    """
    text = os.environ.get("GRAPHC_CACHE_MAX_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    try:
        value = int(text[:-1] if scale > 1 else text) * scale
        if value < 0:
            raise ValueError(text)
        return value
    except ValueError:
        warn_once("max-bytes", text, f"graphc: GRAPHC_CACHE_MAX_BYTES={text!r} is not a "
                  f"size (bytes, or with K, M or G: 2G); using 2G")
        return DEFAULT_MAX_BYTES


_written = {"bytes": 0, "scanned": 0}


def note_written(root: Path, nbytes: int, keep: str) -> None:
    """Count bytes this process wrote; past the cap, evict (checked at the first write
    of a process and after each sixteenth of the cap written since)."""
    cap = max_bytes()
    _written["bytes"] += nbytes
    if not cap or (_written["scanned"] and _written["bytes"] < cap // 16):
        return
    _written["bytes"] = 0
    _written["scanned"] = 1
    evict(root, cap, keep)


def entries(root: Path) -> dict[str, list[Path]]:
    """The cache's files grouped by entry: ``kernels/k_<key>`` (a generated kernel's
    module and numba files), ``library/<module>-<hash>`` (a hand-written module's) or
    ``programs/p_<key>`` (a saved Program and its record)."""
    return {group: [Path(f) for f, _ in files]
            for group, files in _scan(str(root), stat=False).items()}


def _scan(root: str, stat: bool) -> dict[str, list[tuple[str, os.stat_result | None]]]:
    """:func:`entries` as path strings, each with its stat when ``stat`` (one ``scandir``
    pass: a cache of thousands of files is scanned at a process's first write, so this
    avoids a Path object and a second system call per file)."""
    groups: dict[str, list[tuple[str, os.stat_result | None]]] = {}

    def visit(directory: str, group_of) -> None:
        try:
            listing = list(os.scandir(directory))
        except OSError:
            return
        for item in listing:
            if item.name in BOOKKEEPING:
                continue
            try:
                if item.is_dir(follow_symlinks=False):
                    # library/<module>-<hash>/... is one entry, at any depth below it
                    visit(item.path, group_of or (lambda _, g="library/" + item.name: g))
                    continue
                info = item.stat(follow_symlinks=False) if stat else None
            except OSError:
                continue
            if group_of is not None:
                groups.setdefault(group_of(item.name), []).append((item.path, info))

    visit(os.path.join(root, "kernels"),
          lambda name: "kernels/" + name.lstrip(".").split(".", 1)[0])
    visit(os.path.join(root, "library"), None)
    visit(os.path.join(root, "programs"),  # whole-Program snapshots (runtime/snapshot.py)
          lambda name: "programs/" + name.split(".", 1)[0])
    return groups


def evict(root: Path, cap: int, keep: str = "") -> int:
    """Delete least recently used entries until the cache holds at most 90% of ``cap``
    bytes (never the entry ``keep``); returns the bytes freed."""
    sized = []
    for group, files in _scan(str(root), stat=True).items():
        stats = [s for _, s in files if s is not None]
        sized.append((max((s.st_mtime for s in stats), default=0.0), group,
                      [f for f, _ in files], sum(s.st_size for s in stats)))
    total = sum(size for *_, size in sized)
    if total <= cap:
        return 0
    freed = 0
    for _, group, names, _ in sorted(sized, key=lambda entry: entry[:2]):
        if total - freed <= cap * 0.9:
            break
        if group == keep:
            continue
        files = [Path(f) for f in names]
        directories = {f.parent for f in files}
        with contextlib.ExitStack() as stack:
            for directory in sorted(directories):
                stack.enter_context(locked(directory, exclusive=True))
            freed += remove_files(files)
    return freed


