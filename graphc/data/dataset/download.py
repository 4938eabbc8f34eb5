"""Dataset files: where they live, and downloading them atomically with a checksum.

The default root is ``$GRAPHC_DATA_DIR``, else ``~/.cache/graphc/datasets``, with one
folder per dataset (``MNIST``, ``CIFAR10``, ...). A download streams into a temporary
file beside the target, is checked against the published MD5 and only then renamed into
place, so an interrupted or corrupt download never sits under the real name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from ...download import DownloadError, open_url, read_chunks
from ...fileio import atomic_write

__all__ = ["DownloadError", "check_md5", "default_root", "dataset_root", "fetch", "md5_of"]


def default_root() -> Path:
    """Where datasets live by default: ``$GRAPHC_DATA_DIR`` or ``~/.cache/graphc/datasets``.

    >>> isinstance(default_root(), Path)
    True
    """
    env = os.environ.get("GRAPHC_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "graphc" / "datasets"


def dataset_root(owner: str, root: str | os.PathLike | None, download: bool) -> Path:
    """The folder of dataset ``owner``: ``root``, or the default root's ``owner`` folder;
    created when downloading is allowed, else it must exist."""
    path = default_root() / owner if root is None else Path(root).expanduser()
    if not path.is_dir():
        if not download and root is not None:
            raise FileNotFoundError(f"{owner}: root folder {path} does not exist (create it "
                                    f"and put the dataset files there, or pass "
                                    f"download=True)")
        path.mkdir(parents=True, exist_ok=True)
    return path


def md5_of(path: str | os.PathLike) -> str:
    """The MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in read_chunks(f):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(owner: str, path: Path, expected: str, advice: str) -> None:
    """Raise ValueError unless the file at ``path`` (found there, not downloaded) has MD5
    ``expected``; the message gives both digests and ends with ``advice``."""
    found = md5_of(path)
    if found != expected:
        raise ValueError(f"{owner}: {path} is not the published file (MD5 {found}, "
                         f"expected {expected}); {advice}")


def _checked_copy(owner: str, url: str, response: IO[bytes], md5: str,
                  target: Path) -> Callable[[IO[bytes]], None]:
    """A writer for atomic_write: copies ``response`` and raises unless its MD5 is ``md5``
    (atomic_write then removes the temporary file)."""

    def write(f: IO[bytes]) -> None:
        digest = hashlib.md5(usedforsecurity=False)
        for chunk in read_chunks(response):
            digest.update(chunk)
            f.write(chunk)
        if digest.hexdigest() != md5:
            raise ValueError(f"{owner}: the download of {url} has MD5 {digest.hexdigest()}, "
                             f"expected {md5}; nothing was kept (a corrupt or changed file: "
                             f"try again, or put a good copy at {target})")

    return write


def fetch(owner: str, urls: Sequence[str], target: Path, md5: str,
          timeout: float = 500) -> Path:
    """Download ``target`` from the first of ``urls`` that answers, check its MD5 and
    rename it into place. A checksum mismatch raises ValueError (nothing is kept); when no
    URL answers, DownloadError names the URLs and where to put the file by hand."""
    failures = []
    for url in urls:
        try:
            response = open_url(url, timeout)
        except DownloadError as error:
            failures.append(f"{url}: {error}")
            continue
        try:
            with response:
                atomic_write(target, _checked_copy(owner, url, response, md5, target))
        except OSError as error:  # a connection lost mid-download; the MD5 ValueError passes
            failures.append(f"{url}: {error}")
            continue
        return target
    raise DownloadError(f"{owner}: could not download {target.name} (offline?): "
                        f"{'; '.join(failures)}. Download it by hand from {urls[0]} and put "
                        f"it at {target} (MD5 {md5})")
