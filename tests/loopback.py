"""A loopback HTTP server for the download tests (graphc.hub's weights, graphc.data's
datasets): it serves a folder from a thread on 127.0.0.1, so downloads run offline
against real files, and it records the paths asked for."""

from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path


class _Recording(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, quietly, appending each path asked for to ``requests``."""

    def __init__(self, *args, requests: list[str], **kwargs):
        self.requests = requests
        super().__init__(*args, **kwargs)

    def do_GET(self):  # noqa: N802  (http.server's name)
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder``: yields the base URL (no trailing slash) and the list of the
    paths requested, in order."""
    requests: list[str] = []
    handler = functools.partial(_Recording, directory=str(folder), requests=requests)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port where nothing listens (an offline machine's answer)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes
