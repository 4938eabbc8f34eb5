"""Whole-Program snapshots (graphc/runtime/snapshot.py): a Program compiled once is
saved in the kernel cache, and a process meeting the same structure builds it from the
snapshot without the passes, fusion or rendering, with the same bits."""

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.codegen import cache
from graphc.codegen.cache_files import KernelCacheWarning, forget_warnings
from graphc.optimizer import SGD
from graphc.runtime import compiler, snapshot
from tests.codegen.cache_helpers import isolated


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """One kernel cache for the module (its kernels compile once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAPHC_BACKEND", "compiled")
        yield from isolated(patch, tmp_path_factory.mktemp("snapshots") / "cache")


@pytest.fixture
def cache_root(module_cache, monkeypatch):
    """The module's kernel cache with no saved Programs, none in memory."""
    monkeypatch.setenv("GRAPHC_PROGRAM_CACHE", "1")
    shutil.rmtree(module_cache / snapshot.DIRECTORY, ignore_errors=True)
    compiler.clear_programs()
    forget_warnings()
    yield module_cache
    compiler.clear_programs()


def small_cnn_step():
    """Two training steps of a small CNN with SGD momentum: loop kernels, library
    kernels (conv, pooling, matmul) with attributes, views and constants. Returns the
    losses' and the parameters' bytes."""
    graphc.random.seed(0)
    net = M.Sequential(M.Conv2d(2, 3, 3, padding=1), M.BatchNorm2d(3), M.ReLU(),
                       M.MaxPool2d(2), M.Flatten(), M.Linear(3 * 3 * 3, 4))
    gm = GradManager().attach(net.parameters())
    opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 6, 6)).astype(np.float32)
    y = rng.integers(0, 4, 5)
    losses = []
    for _ in range(2):
        with gm:
            loss = F.cross_entropy(net(graphc.tensor(x)), graphc.tensor(y))
            gm.backward(loss)
        opt.step().clear_grad()
        losses.append(loss.numpy().tobytes())
    return losses + [p.numpy().tobytes() for p in net.parameters()]


def programs_directory():
    return cache.cache_dir() / snapshot.DIRECTORY


def test_a_saved_program_loads_without_compiling_and_gives_the_same_bits(cache_root,
                                                                        monkeypatch):
    before = dict(compiler.stats)
    first = small_cnn_step()
    compiled = compiler.stats["programs_compiled"] - before["programs_compiled"]
    assert compiled >= 1 and compiler.stats["programs_loaded"] == before["programs_loaded"]
    assert len(list(programs_directory().glob("p_*.npz"))) == compiled
    compiler.clear_programs()  # a new process, as far as Programs go

    def no_passes(*args, **kwargs):
        raise AssertionError("a loaded Program runs no passes")

    monkeypatch.setattr(compiler, "run_pipeline", no_passes)
    before = dict(compiler.stats)
    again = small_cnn_step()
    assert compiler.stats["programs_loaded"] - before["programs_loaded"] == compiled
    assert compiler.stats["programs_compiled"] == before["programs_compiled"]
    assert again == first


def test_a_tampered_snapshot_is_deleted_warned_about_and_compiled_afresh(cache_root):
    first = small_cnn_step()
    compiler.clear_programs()
    saved = sorted(programs_directory().glob("p_*.npz"))
    data = bytearray(saved[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    saved[0].write_bytes(bytes(data))
    before = dict(compiler.stats)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = small_cnn_step()
    assert any(issubclass(w.category, KernelCacheWarning) and "saved Program" in str(w.message)
               for w in caught)
    assert compiler.stats["programs_compiled"] - before["programs_compiled"] == 1
    assert again == first
    assert saved[0].read_bytes() != bytes(data)  # written again by the fresh compile


def exp_plus_one(n: int) -> bytes:
    x = graphc.tensor(np.linspace(-1, 1, n, dtype=np.float32))
    return (F.exp(x) * 3 + 1).numpy().tobytes()


@pytest.mark.parametrize("with_record", [False, True])
def test_a_snapshot_copied_under_another_key_is_refused(cache_root, with_record):
    # A record binds a file's bytes to its key: a valid snapshot copied over another
    # structure's (with its own record, or with the other's) does not verify.
    first = exp_plus_one(3), exp_plus_one(4)
    compiler.clear_programs()
    a, b = sorted(programs_directory().glob("p_*.npz"), key=lambda p: p.stat().st_mtime)
    b.write_bytes(a.read_bytes())
    if with_record:
        record = a.name.replace(".npz", ".graphc.json")
        (b.parent / b.name.replace(".npz", ".graphc.json")).write_bytes(
            (a.parent / record).read_bytes())
    before = dict(compiler.stats)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = exp_plus_one(3), exp_plus_one(4)
    assert again == first
    assert compiler.stats["programs_loaded"] - before["programs_loaded"] == 1  # a's
    assert compiler.stats["programs_compiled"] - before["programs_compiled"] == 1  # b's
    assert any("saved Program" in str(w.message) for w in caught)


def test_switched_off_nothing_is_saved_and_clear_removes_snapshots(cache_root, monkeypatch):
    monkeypatch.setenv("GRAPHC_PROGRAM_CACHE", "0")
    small_cnn_step()
    assert not programs_directory().exists() or not list(programs_directory().iterdir())
    monkeypatch.setenv("GRAPHC_PROGRAM_CACHE", "1")
    compiler.clear_programs()
    small_cnn_step()
    assert list(programs_directory().glob("p_*"))
    cache.clear_cache()
    assert not list(programs_directory().glob("p_*"))


def test_a_key_changes_with_the_structure_the_backend_and_the_updates():
    key = ((("arg", "float32[2]@cpux", 0), ("exp", (), "float32[2]@cpux", (0,))), (1,))
    other = ((("arg", "float32[3]@cpux", 0), ("exp", (), "float32[3]@cpux", (0,))), (1,))
    backend = ("cpu", "abc")
    keys = {snapshot.program_key(key, backend, set()),
            snapshot.program_key(other, backend, set()),
            snapshot.program_key(key, ("cpu", "abd"), set()),
            snapshot.program_key(key, backend, {(0, 0)})}
    assert len(keys) == 4 and None not in keys
    assert snapshot.program_key(key, backend, set()) == snapshot.program_key(key, backend,
                                                                             set())
    assert snapshot.program_key(((object(),), ()), backend, set()) is None  # no JSON form


def test_a_key_changes_when_graphc_code_changes():
    # An edited, checked-out or reinstalled source file has a new time: the keys of
    # every Program change with it, so a plan made by other code is never loaded.
    # (graphc/version.py: no numba kernel is cached against its time.)
    key, backend = ((("arg", "float32[2]@cpux", 0),), (0,)), ("cpu", "abc")
    source = Path(graphc.__file__).parent / "version.py"
    stat = source.stat()
    snapshot.fingerprint.cache_clear()
    before = snapshot.program_key(key, backend, set())
    try:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        snapshot.fingerprint.cache_clear()
        assert snapshot.program_key(key, backend, set()) != before
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        snapshot.fingerprint.cache_clear()
    assert snapshot.program_key(key, backend, set()) == before


def test_a_program_without_records_counts_as_compiled_and_is_not_saved(cache_root,
                                                                      monkeypatch):
    # The GPU linker keeps no records (its steps hold device objects): such a compile
    # is counted like any other and nothing is saved.
    from graphc.runtime import link

    built = link.ProgramBuilder.build

    def without_records(self):
        self.records = None
        return built(self)

    monkeypatch.setattr(link.ProgramBuilder, "build", without_records)
    before = dict(compiler.stats)
    exp_plus_one(5)
    assert compiler.stats["programs_compiled"] - before["programs_compiled"] == 1
    assert not list(programs_directory().glob("p_*"))
