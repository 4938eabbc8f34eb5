"""Fixtures for the hub tests: a loopback HTTP server and a private cache directory."""

from __future__ import annotations

import pytest

from tests.loopback import serve


@pytest.fixture
def loopback(tmp_path):
    """A server on 127.0.0.1 (tests/loopback.py) serving ``tmp_path / "www"``: yields
    the folder, the base URL and the paths asked for."""
    root = tmp_path / "www"
    root.mkdir()
    with serve(root) as (base, requests):
        yield root, base, requests


@pytest.fixture
def server(loopback):
    """``(folder, base_url)`` of the loopback server."""
    return loopback[:2]


@pytest.fixture
def served(loopback):
    """The paths the server was asked for, in order."""
    return loopback[2]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private, empty GRAPHC_CACHE_DIR."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(folder))
    return folder
