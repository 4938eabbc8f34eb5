"""Fixtures for the hub tests: a loopback HTTP server and a private cache directory."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest


class _Recording(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, quietly, recording the paths asked for."""

    requests: list[str] = []

    def do_GET(self):  # noqa: N802  (http.server's name)
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def served():
    """The paths the server was asked for, in order."""
    _Recording.requests = []
    return _Recording.requests


@pytest.fixture
def server(tmp_path, served):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"`` from a thread: yields
    the folder and the base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Recording, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private, empty GRAPHC_CACHE_DIR."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(folder))
    return folder
