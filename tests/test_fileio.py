"""Files graphc writes get the mode the umask gives; an existing file keeps its mode
(issue 16, part 3). The umask is read once at import, so a different umask needs a
fresh process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc import fileio

WRITERS = """
import sys, numpy as np, graphc
from graphc.cli import main
d = sys.argv[1]
graphc.save({"w": np.ones(2)}, d + "/ckpt.gc")
x = graphc.placeholder((2,), name="x")
f = graphc.function([x], {"y": x * 2})
f.dump(d + "/f.graphc")
np.save(d + "/x.npy", np.ones(2, np.float32))
assert main(["run", d + "/f.graphc", "--input", "x=" + d + "/x.npy", "--out", d]) == 0
assert main(["viz", d + "/f.graphc", "-o", d + "/g.json"]) == 0
"""


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_writer_gives_new_files_the_umasks_mode(tmp_path):
    umask = 0o027  # neither the common 0o022 nor the 0o600 that mkstemp gives
    subprocess.run([sys.executable, "-c", WRITERS, str(tmp_path)], check=True,
                   preexec_fn=lambda: os.umask(umask), capture_output=True)
    written = {p.name: _mode(p) for p in tmp_path.iterdir()}
    want = 0o666 & ~umask  # what open(path, "w") gives: 0o640
    for name in ("ckpt.gc", "f.graphc", "y.npy", "g.json"):
        assert written[name] == want, (name, oct(written[name]))


def test_rewriting_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "ckpt.gc"
    for mode in (0o644, 0o600, 0o664):
        graphc.save({"step": 1}, path)
        os.chmod(path, mode)
        graphc.save({"step": 2}, path)
        assert _mode(path) == mode and graphc.load(path) == {"step": 2}


def test_the_umask_is_read_at_import_not_at_each_write(tmp_path, monkeypatch):
    current = os.umask(0o022)
    os.umask(current)
    assert fileio.UMASK == current
    assert fileio.new_file_mode() == 0o666 & ~current

    def no_umask(mask):  # a round trip here would race with other threads' files
        raise AssertionError("os.umask called while writing")

    monkeypatch.setattr(os, "umask", no_umask)
    fileio.atomic_write(tmp_path / "a.bin", b"abc")
    assert _mode(tmp_path / "a.bin") == 0o666 & ~current


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.npy"
    fileio.atomic_write(path, lambda f: np.save(f, np.arange(3)))

    def failing(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        fileio.atomic_write(path, failing)
    np.testing.assert_array_equal(np.load(path), np.arange(3))
    assert os.listdir(tmp_path) == ["out.npy"]
