"""Downloads over HTTP(S): opening a URL, reading it in chunks, and saying why not.

graphc downloads two kinds of file: pretrained weights (:mod:`graphc.hub`, read into
memory within the load limits, checked, then written atomically) and dataset files
(:mod:`graphc.data.dataset`, streamed to disk under an MD5 check). Both open the URL
with :func:`open_url` and read it with :func:`read_chunks`; a failure is one
:class:`DownloadError`, which each caller words with where to put the file by hand.

>>> import io
>>> b"".join(read_chunks(io.BytesIO(b"abcdef"), limit=4))
b'abcd'
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO

__all__ = ["DownloadError", "open_url", "read_chunks"]

CHUNK_BYTES = 1 << 20


class DownloadError(OSError):
    """A file could not be downloaded (offline, refused, or an HTTP error)."""


def open_url(url: str, timeout: float) -> IO[bytes]:
    """The open response of ``url`` (``timeout``: seconds to connect and per read).

    Raises :class:`DownloadError` whose text is the reason: ``HTTP 404 Not Found`` for
    an HTTP error, the connection's reason otherwise.

    >>> try:
    ...     open_url("nothing://here", timeout=1)
    ... except DownloadError as err:
    ...     print(err)
    unknown url type: nothing
    """
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"HTTP {err.code} {err.reason}") from None
    except (OSError, ValueError) as err:  # URLError is an OSError; a bad URL a ValueError
        raise DownloadError(str(getattr(err, "reason", err))) from None


def read_chunks(stream: IO[bytes], limit: int | None = None) -> Iterator[bytes]:
    """The bytes of ``stream`` in chunks of at most 1 MiB, ``limit`` bytes in all when
    given (``HTTPResponse.read(n)`` allocates ``n`` bytes up front, whatever the file's
    size, so a large or unbounded read is never asked for at once)."""
    total = 0
    while limit is None or total < limit:
        want = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit - total)
        chunk = stream.read(want)
        if not chunk:
            return
        total += len(chunk)
        yield chunk
