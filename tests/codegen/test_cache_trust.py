"""The kernel cache's trust rule (issue 16): numba's pickles load only when graphc's record
vouches for them, never from a directory others can write; hand-written kernels cache in
graphc's cache; an unwritable or vanishing cache compiles in memory; a size cap.

Tamper tests run the victim in a subprocess with its own cache directory: a planted
pickle must not run, and if it did, it runs there (it only makes a directory).
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from graphc.codegen import cache, cache_index
from tests.codegen.cache_helpers import child_env, filled_template, isolated

KERNEL = '''import numpy as np
from numba import njit


@njit(cache=True)
def kernel(out, x):
    for i in range(x.shape[0]):
        out[i] = {expr}
'''
ADD = KERNEL.format(expr="x[i] * 3.0 + 1.0")
SQUARE = KERNEL.format(expr="x[i] * x[i]")
X = np.linspace(-2.0, 2.0, 11)
EXPECTED = {ADD: X * 3.0 + 1.0, SQUARE: X * X}

# Loads and calls each kernel source given as JSON; prints the outputs, compile_stats()
# and every warning, as one JSON line.
CHILD = r'''
import json, sys, warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from graphc.codegen.cache import compile_stats, load_kernel
    outputs = []
    for source in json.loads(sys.argv[1]):
        x = np.linspace(-2.0, 2.0, 11)
        out = np.empty_like(x)
        load_kernel(source)(out, x)
        outputs.append(out.tolist())
print(json.dumps({"outputs": outputs, "stats": compile_stats(),
                  "warnings": [str(w.message) for w in caught]}))
'''


class Planted:
    """A pickle that runs a command when loaded (here: makes a directory)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def run_child(script: str, cache_dir: Path, *args: str, preexec=None) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=300, preexec_fn=preexec, env=child_env(
                              cache_dir, GRAPHC_BACKEND="compiled", GRAPHC_PARALLEL_COMPILE="0"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_kernels(cache_dir: Path, *sources: str, preexec=None) -> dict:
    result = run_child(CHILD, cache_dir, json.dumps(sources), preexec=preexec)
    for source, out in zip(sources, result["outputs"]):
        np.testing.assert_allclose(out, EXPECTED[source])
    return result


def numba_file(cache_dir: Path, source: str, suffix: str) -> Path:
    (path,) = (cache_dir / "kernels" / "__pycache__").glob(
        f"k_{cache.kernel_key(source)}.*{suffix}")
    return path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    yield from isolated(monkeypatch, tmp_path / "cache")


def _fill() -> None:
    for source in (ADD, SQUARE):
        out = np.empty_like(X)
        cache.load_kernel(source)(out, X)


@pytest.fixture(scope="module")
def warm_template(tmp_path_factory) -> Path:
    """A cache holding ADD and SQUARE compiled by this process (copy it to change it)."""
    return filled_template(tmp_path_factory, "trust", _fill)


def warm_copy(template: Path, where: Path) -> Path:
    shutil.copytree(template, where)
    return where


# ----------------------------------------------------------- finding 1: planted pickles


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
def test_a_planted_pickle_in_numba_cache_files_never_runs(warm_template, tmp_path, suffix):
    root = warm_copy(warm_template, tmp_path / "cache")
    marker = tmp_path / "planted-pickle-ran"
    numba_file(root, ADD, suffix).write_bytes(pickle.dumps(Planted(marker)))

    result = run_kernels(root, ADD)
    assert not marker.exists()
    assert result["stats"]["numba_compiles"] == 1  # rebuilt, not loaded
    (warning,) = result["warnings"]
    assert f"{suffix} does not match graphc's record" in warning and "rebuilt" in warning


def _owned_by_nobody(path: Path) -> None:
    os.chown(path, 65534, 65534)


@pytest.mark.parametrize("case", ["cache_world_writable", "kernels_group_writable",
                                  "parent_world_writable", "cache_owned_by_another_user"])
def test_a_cache_others_can_write_is_never_read(warm_template, tmp_path, case):
    parent = tmp_path / "shared"
    parent.mkdir()
    root = warm_copy(warm_template, parent / "cache")
    marker = tmp_path / "planted-pickle-ran"
    numba_file(root, ADD, ".nbi").write_bytes(pickle.dumps(Planted(marker)))
    victim = {"cache_world_writable": (root, 0o777),
              "kernels_group_writable": (root / "kernels", 0o775),
              "parent_world_writable": (parent, 0o777),
              "cache_owned_by_another_user": (root, None)}[case]
    if victim[1] is None:
        if os.geteuid() != 0:
            pytest.skip("only root can give a directory to another user")
        _owned_by_nobody(root)
    else:
        os.chmod(*victim)
    before = snapshot(root)

    result = run_kernels(root, ADD, SQUARE)
    assert not marker.exists()
    assert result["stats"]["numba_cache_hits"] == 0  # nothing loaded from there
    (warning,) = result["warnings"]  # one warning for both kernels
    assert f"not using the kernel cache {root}" in warning and str(victim[0]) in warning
    assert ("chmod go-w" in warning) == (victim[1] is not None)
    assert snapshot(root) == before  # and nothing written there


def test_a_sticky_world_writable_parent_like_tmp_is_fine(warm_template, tmp_path):
    parent = tmp_path / "sticky"
    parent.mkdir()
    root = warm_copy(warm_template, parent / "cache")
    parent.chmod(0o1777)
    result = run_kernels(root, ADD)
    assert result["warnings"] == []
    assert (result["stats"]["numba_cache_hits"], result["stats"]["numba_compiles"]) == (1, 0)


def test_cache_files_are_written_whole_with_the_mode_the_umask_gives(isolated_cache):
    run_kernels(isolated_cache, ADD, preexec=lambda: os.umask(0o027))
    files = {p.relative_to(isolated_cache): stat.S_IMODE(p.stat().st_mode)
             for p in isolated_cache.rglob("*")}
    key_mode = files.pop(Path("cache.key"), None)
    assert stat.S_IMODE(isolated_cache.stat().st_mode) == 0o750
    assert files.pop(Path("kernels")) == files.pop(Path("kernels/__pycache__")) == 0o750
    assert set(files.values()) == {0o640}  # umask 027: rw-r-----, never group-writable
    assert key_mode == 0o600  # the HMAC key: for the user alone
    assert sorted(p.name.split(".", 2)[-1] for p in files) == [  # no temporary file left
        "lock", "py", "py{}{}.1.nbc".format(*sys.version_info),
        "py{}{}.graphc.json".format(*sys.version_info), "py{}{}.nbi".format(*sys.version_info)]


# ------------------------------------------------ finding 2: an entry of another kernel

FRONT_END = r'''
import json, warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import graphc, graphc.functional as F
    x = np.linspace(-3, 3, 5000).astype(np.float32)   # > 4096: compiled at once
    s, t = F.sin(graphc.tensor(x)).numpy(), F.tanh(graphc.tensor(x)).numpy()
print(json.dumps({"sin": float(np.abs(s - np.sin(x)).max()),
                  "tanh": float(np.abs(t - np.tanh(x)).max()),
                  "warnings": [str(w.message) for w in caught]}))
'''


def test_the_sin_kernel_copied_over_tanh_is_rebuilt_not_run(isolated_cache):
    first = run_child(FRONT_END, isolated_cache)
    assert first["sin"] < 1e-6 and first["tanh"] < 1e-6 and first["warnings"] == []
    kernels = {}
    for module in (isolated_cache / "kernels").glob("k_*.py"):
        ops = module.read_text().split("# ops: ", 1)[1].split("\n", 1)[0]
        (data,) = (isolated_cache / "kernels" / "__pycache__").glob(f"{module.stem}.*.nbc")
        kernels[ops] = data
    shutil.copyfile(kernels["sin"], kernels["tanh"])

    second = run_child(FRONT_END, isolated_cache)
    assert second["sin"] < 1e-6 and second["tanh"] < 1e-6
    (warning,) = second["warnings"]
    assert f"{kernels['tanh'].name} does not match graphc's record" in warning


def test_a_record_forged_without_the_cache_key_does_not_verify(warm_template, isolated_cache):
    root = warm_copy(warm_template, isolated_cache)
    # SQUARE's code under ADD's name, and a record whose digests are plain SHA-256 (or
    # MACs under another cache's key): whoever cannot read cache.key cannot vouch.
    target = numba_file(root, ADD, ".1.nbc")
    shutil.copyfile(numba_file(root, SQUARE, ".1.nbc"), target)
    record = numba_file(root, ADD, cache_index.RECORD_SUFFIX)
    index = numba_file(root, ADD, ".nbi")
    files = {p.name: cache_index.digest(b"another cache's key", cache.kernel_key(ADD),
                                        p.name, p.read_bytes()) for p in (target, index)}
    record.write_text(json.dumps({"format": 1, "key": cache.kernel_key(ADD), "files": files}))

    kernel = cache.load_kernel(ADD)
    out = np.empty_like(X)
    with pytest.warns(cache.KernelCacheWarning, match="does not match graphc's record"):
        kernel(out, X)
    np.testing.assert_allclose(out, EXPECTED[ADD])


# ---------------------------------------------- finding 3: hand-written kernels, size cap

LIBRARY = r'''
import json, sys, warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from graphc.kernels.cpu.col2im import col2im
    cols = np.arange(2 * 3 * 2 * 2 * 3 * 3, dtype=np.float64).reshape(2, 3, 2, 2, 3, 3)
    out = np.empty((2, 3, 4, 4))
    col2im(cols, out, 1, 1, 1, 1)
    expected = np.zeros_like(out)
    for i in range(2):
        for j in range(2):
            expected[:, :, i:i + 3, j:j + 3] += cols[:, :, i, j]
print(json.dumps({"error": float(np.abs(out - expected).max()),
                  "hits": sum(col2im.stats.cache_hits.values()),
                  "warnings": [str(w.message) for w in caught]}))
'''


def package_numba_files() -> set[Path]:
    import graphc.kernels.cpu

    return set(Path(graphc.kernels.cpu.__file__).parent.glob("__pycache__/*.nb[ic]"))


def test_hand_written_kernels_cache_in_graphc_cache_verified(isolated_cache, tmp_path):
    in_package = package_numba_files()
    first = run_child(LIBRARY, isolated_cache)
    assert first["error"] == 0 and first["hits"] == 0 and first["warnings"] == []
    assert package_numba_files() == in_package  # nothing new in the installed package
    (entry,) = (isolated_cache / "library").glob("col2im-*")
    python = "py{}{}".format(*sys.version_info)
    assert sorted(p.name.split(".", 2)[-1] for p in entry.glob("col2im.*")) == [
        f"{python}.1.nbc", f"{python}.graphc.json", f"{python}.nbi"]
    assert cache.cache_info()["library_functions"] == 1

    marker = tmp_path / "planted-pickle-ran"
    (data,) = entry.glob("*.nbc")
    data.write_bytes(pickle.dumps(Planted(marker)))
    planted = run_child(LIBRARY, isolated_cache)
    assert not marker.exists() and planted["error"] == 0 and planted["hits"] == 0
    (warning,) = planted["warnings"]
    assert ".1.nbc does not match graphc's record" in warning

    again = run_child(LIBRARY, isolated_cache)  # rebuilt: loads cleanly from the cache
    assert again["error"] == 0 and again["hits"] == 1 and again["warnings"] == []

    removed = cache.clear_cache()
    assert removed["library_functions"] == 1 and not list(entry.glob("col2im.*"))


def test_the_size_cap_evicts_least_recently_used_kernels(isolated_cache, monkeypatch):
    sources = [KERNEL.format(expr=f"x[i] + {n}.0") for n in range(4)]

    def use(source: str) -> None:
        cache._forget_loaded_kernels()
        out = np.empty_like(X)
        cache.load_kernel(source)(out, X)
        np.testing.assert_allclose(out, X + sources.index(source))

    def kept() -> list[bool]:  # each kernel's module and numba files, all or none
        found = [sorted(p.suffix for p in (isolated_cache / "kernels").rglob(
            f"k_{cache.kernel_key(s)}.*")) for s in sources]
        assert all(f in ([], [".json", ".nbc", ".nbi", ".py"]) for f in found), found
        return [bool(f) for f in found]

    use(sources[0])
    use(sources[1])
    time.sleep(0.05)  # file times are coarse (a few ms)
    entry_bytes = cache.cache_info()["bytes"] // 2
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", str(int(entry_bytes * 2.5)))
    use(sources[0])  # loaded from disk: now more recent than sources[1]
    use(sources[2])  # three entries > 2.5: the least recently used goes
    assert kept() == [True, False, True, False]
    use(sources[3])
    assert kept() == [False, False, True, True]
    assert cache.cache_info()["bytes"] <= entry_bytes * 2.5


# ------------------------------------ finding 4: an unwritable or vanishing cache directory


def _without_root_override() -> None:
    """Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that root obeys mode bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.parametrize("case", ["uncreatable", "read_only", "read_only_warm"])
def test_an_unwritable_cache_compiles_in_memory(warm_template, tmp_path, case):
    if case == "uncreatable":
        (tmp_path / "a-file").write_text("")
        root = tmp_path / "a-file" / "cache"
    else:
        root = tmp_path / "cache"
        if case == "read_only_warm":
            warm_copy(warm_template, root)
        else:
            root.mkdir()
        for directory in [root, *root.rglob("*")]:
            if directory.is_dir():
                directory.chmod(0o555)
    preexec = _without_root_override if os.geteuid() == 0 else None

    result = run_kernels(root, ADD, SQUARE, preexec=preexec)
    if case == "read_only_warm":  # read from, never written: no warning needed
        assert result["warnings"] == []
        assert result["stats"]["numba_cache_hits"] == 2
    else:
        (warning,) = result["warnings"]
        assert f"cannot write the kernel cache {root}" in warning
        assert result["stats"]["numba_compiles"] == 2


DELETER = r'''
import json, shutil, sys, threading, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from graphc.codegen.cache import cache_dir, load_kernel
stop = threading.Event()
deletions = [0]
def delete():
    while not stop.is_set():
        shutil.rmtree(cache_dir(), ignore_errors=True)
        deletions[0] += 1
        time.sleep(0.002)
threading.Thread(target=delete, daemon=True).start()
errors, wrong = [], 0
for n in range(int(sys.argv[1])):
    source = ("from numba import njit\n@njit(cache=True)\ndef kernel(x):\n"
              f"    return x * {n} + 1.5\n")
    try:
        wrong += load_kernel(source)(2.0) != 2.0 * n + 1.5
    except Exception as exc:
        errors.append(repr(exc))
stop.set()
print(json.dumps({"errors": errors, "wrong": int(wrong), "deletions": deletions[0]}))
'''


def test_deleting_the_cache_while_kernels_compile_never_fails(isolated_cache):
    result = run_child(DELETER, isolated_cache, "40")
    assert result["errors"] == [] and result["wrong"] == 0
    assert result["deletions"] > 40
