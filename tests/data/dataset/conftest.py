"""A loopback HTTP server for the dataset download tests: it serves a temporary folder,
so downloads run offline against files written in the real formats."""

from __future__ import annotations

import pytest

from tests.loopback import closed_port, serve


@pytest.fixture
def served(tmp_path):
    """``(folder, base_url)``: files written to ``folder`` are served under ``base_url``."""
    folder = tmp_path / "served"
    folder.mkdir()
    with serve(folder) as (base, _):
        yield folder, base + "/"


@pytest.fixture
def closed_port_url():
    """A loopback URL where nothing listens (an offline machine's answer)."""
    return f"http://127.0.0.1:{closed_port()}/"
