"""The text of the user's line that built a node, for labels' tooltips and the page.

Node metadata records ``file:line``; the full path is kept only until the location is
first formatted (for an error message or a library kernel's step; never by export).
Then the file is found again by its name among the loaded modules, ``linecache`` and
the main script, as long as the name is unambiguous.
"""

from __future__ import annotations

import linecache
import os
import sys

from ..ir import NodeMeta


class SourceLines:
    """Finds source lines of node metadata; build one per export (it indexes files once).

    >>> import graphc
    >>> t = graphc.tensor([1.]) + 1   # the line itself
    >>> SourceLines().where(t._node.meta)[1]
    't = graphc.tensor([1.]) + 1   # the line itself'
    """

    def __init__(self) -> None:
        self._paths: dict[str, str | None] | None = None

    def where(self, meta: NodeMeta) -> tuple[str, str]:
        """``(file:line, source text)`` of ``meta``, leaving ``meta`` as it is (reading
        ``meta.location`` would forget the full path)."""
        where = getattr(meta, "_where", None)
        if isinstance(where, tuple):
            text = linecache.getline(where[0], where[1]).strip()
            return f"{os.path.basename(where[0])}:{where[1]}", text
        location = meta.location
        name, _, number = location.rpartition(":")
        path = self._index().get(name)
        if path is None or not number.isdigit():
            return location, ""
        return location, linecache.getline(path, int(number)).strip()

    def _index(self) -> dict[str, str | None]:
        """basename → path of every file in sight (None where two files share a name)."""
        if self._paths is None:
            files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
            files += list(linecache.cache) + sys.argv[:1]
            self._paths = {}
            for f in files:
                if isinstance(f, str) and f:
                    base = os.path.basename(f)
                    known = self._paths.get(base, f)
                    self._paths[base] = f if known == f else None
        return self._paths
