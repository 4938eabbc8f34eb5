"""The on-disk kernel cache: memory hits, warm second processes, corruption, races, dumps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graphc.codegen import cache
from tests.codegen.cache_helpers import child_env, filled_template, isolated

KERNEL_TEMPLATE = '''# graphc kernel: {tag} (2 ops)
import numpy as np
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True, fastmath={{"reassoc", "contract"}})
def kernel(out0, in0, in1, dims):
    n = dims[0]
    for i in prange(n):
        out0[i] = (in0[i] + in1[i]) * in1[i]
'''
SOURCE = KERNEL_TEMPLATE.format(tag="add_mul")

# Loads a kernel source file, optionally waits for a "go" file so that two copies start
# together, calls the kernel and prints its output and compile_stats() as JSON.
CHILD = r'''
import json, sys, time
from pathlib import Path
import numpy as np
import numba
from graphc.codegen.cache import compile_stats, load_kernel
source = Path(sys.argv[1]).read_text()
if len(sys.argv) > 2:
    go = Path(sys.argv[2])
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
kernel = load_kernel(source)
a = np.linspace(-3, 3, 37).astype(np.float32)
b = np.cos(a)
out = np.empty_like(a)
kernel(out, a, b, np.array([a.size]))
print(json.dumps({"out": out.tolist(), "stats": compile_stats()}), flush=True)
'''


def expected_child_output() -> np.ndarray:
    a = np.linspace(-3, 3, 37).astype(np.float32)
    b = np.cos(a)
    return (a + b) * b


def run_kernel(kernel) -> None:
    """Call an add_mul kernel and compare with NumPy."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(50).astype(np.float32)
    b = rng.standard_normal(50).astype(np.float32)
    out = np.full_like(a, np.nan)
    kernel(out, a, b, np.array([a.size]))
    np.testing.assert_allclose(out, (a + b) * b, rtol=1e-6)


def stats_delta(before: dict[str, int]) -> dict[str, int]:
    after = cache.compile_stats()
    return {name: after[name] - before[name] for name in after}


def run_child(tmp_path: Path, cache_dir: Path, **extra: str) -> dict:
    source_file = tmp_path / "source.py.txt"
    source_file.write_text(SOURCE)
    done = subprocess.run([sys.executable, "-c", CHILD, str(source_file)], capture_output=True,
                          text=True, env=child_env(cache_dir, **extra), timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def module_path(cache_dir: Path, source: str = SOURCE) -> Path:
    return cache_dir / "kernels" / f"k_{cache.kernel_key(source)}.py"


def numba_files(cache_dir: Path, suffix: str) -> list[Path]:
    return sorted((cache_dir / "kernels" / "__pycache__").glob(f"*{suffix}"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Each test gets an empty cache dir, no dump dir, and no kernels in memory."""
    yield from isolated(monkeypatch, tmp_path / "cache")


@pytest.fixture(scope="session")
def warm_template(tmp_path_factory) -> Path:
    """A cache dir holding SOURCE compiled once by this process (copy it before changing)."""
    template = filled_template(tmp_path_factory, "warm",
                               lambda: run_kernel(cache.load_kernel(SOURCE)))
    assert len(numba_files(template, ".nbc")) == 1
    return template


@pytest.fixture
def warm_cache(warm_template, isolated_cache) -> Path:
    shutil.copytree(warm_template, isolated_cache)
    return isolated_cache


def test_second_load_in_one_process_hits_memory(isolated_cache):
    before = cache.compile_stats()
    first = cache.load_kernel(SOURCE)
    second = cache.load_kernel(SOURCE)
    assert second is first
    delta = stats_delta(before)
    assert delta["memory_hits"] == 1
    assert delta["modules_imported"] == 1
    assert delta["modules_written"] == 1
    assert module_path(isolated_cache).read_text() == SOURCE


def test_module_is_registered_under_a_stable_importable_name(isolated_cache):
    kernel = cache.load_kernel(SOURCE)
    name = f"{cache.KERNEL_PACKAGE}.k_{cache.kernel_key(SOURCE)}"
    # numba resolves a kernel's module by this name when it loads cached code.
    assert kernel.py_func.__module__ == name
    assert sys.modules[name].kernel is kernel
    assert Path(sys.modules[name].__file__) == module_path(isolated_cache)


def test_second_process_loads_from_disk_without_compiling(warm_cache, tmp_path):
    result = run_child(tmp_path, warm_cache)
    np.testing.assert_allclose(result["out"], expected_child_output(), rtol=1e-6)
    assert result["stats"]["numba_compiles"] == 0
    assert result["stats"]["numba_cache_hits"] == 1
    assert result["stats"]["modules_written"] == 0


@pytest.mark.parametrize("damage", ["truncated", "garbage", "edited"])
def test_corrupt_module_file_is_rewritten(warm_cache, damage):
    path = module_path(warm_cache)
    corrupt = {"truncated": SOURCE[: len(SOURCE) // 2],
               "garbage": "\x00\x17 not python at all \x7f" * 20,
               "edited": SOURCE.replace("* in1[i]", "- in1[i]")}[damage]
    path.write_text(corrupt)
    before = cache.compile_stats()
    kernel = cache.load_kernel(SOURCE)
    assert path.read_text() == SOURCE
    run_kernel(kernel)
    delta = stats_delta(before)
    assert delta["modules_written"] == 1
    # numba keys its cache on the file's content, restored byte for byte: no recompile.
    assert delta["numba_compiles"] == 0
    assert delta["numba_cache_hits"] == 1


@pytest.mark.parametrize("damage", ["index_truncated", "index_garbage", "data_truncated",
                                    "data_garbage"])
def test_corrupt_numba_cache_is_rebuilt(warm_cache, damage):
    part, how = damage.split("_")
    (victim,) = numba_files(warm_cache, ".nbi" if part == "index" else ".nbc")
    size = victim.stat().st_size
    if how == "truncated":
        with open(victim, "r+b") as f:
            f.truncate(size // 3)
    else:
        victim.write_bytes(np.random.default_rng(1).bytes(size))
    before = cache.compile_stats()
    kernel = cache.load_kernel(SOURCE)
    with pytest.warns(cache.KernelCacheWarning, match="numba cache entry .* deleted and rebuilt"):
        run_kernel(kernel)
    delta = stats_delta(before)
    assert (delta["numba_cache_rebuilds"], delta["numba_compiles"]) == (1, 1)

    # The rebuilt entry is sound: a fresh load finds it and compiles nothing.
    cache._forget_loaded_kernels()
    before = cache.compile_stats()
    run_kernel(cache.load_kernel(SOURCE))
    delta = stats_delta(before)
    assert (delta["numba_compiles"], delta["numba_cache_hits"]) == (0, 1)


def test_cached_entry_for_another_signature_is_rebuilt(warm_cache):
    # Data files of two signatures swapped (as numba's unlocked numbering of data files
    # could leave them): each fails its digest, so nothing of the other signature loads.
    kernel = cache.load_kernel(SOURCE)
    x = np.linspace(0, 1, 9)  # float64: a second cache entry beside the float32 one
    out = np.empty_like(x)
    kernel(out, x, x, np.array([x.size]))
    np.testing.assert_allclose(out, (x + x) * x)
    first, second = numba_files(warm_cache, ".nbc")
    first_bytes = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(first_bytes)

    cache._forget_loaded_kernels()
    before = cache.compile_stats()
    kernel = cache.load_kernel(SOURCE)
    with pytest.warns(cache.KernelCacheWarning, match=r"\.1\.nbc does not match"):
        run_kernel(kernel)
    delta = stats_delta(before)
    assert (delta["numba_cache_rebuilds"], delta["numba_compiles"]) == (1, 1)


def test_two_processes_compiling_at_once_both_succeed(isolated_cache, tmp_path):
    source_file = tmp_path / "source.py.txt"
    source_file.write_text(SOURCE)
    go = tmp_path / "go"
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(source_file), str(go)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=child_env(isolated_cache)) for _ in range(2)]
    try:
        for child in children:  # both imported numba and wait: start them together
            assert child.stdout.readline().strip() == "ready"
        go.touch()
        results = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (stdout, stderr) in zip(children, results):
        assert child.returncode == 0, stderr
        result = json.loads(stdout.strip().splitlines()[-1])
        np.testing.assert_allclose(result["out"], expected_child_output(), rtol=1e-6)
    assert module_path(isolated_cache).read_text() == SOURCE

    # Whatever order their writes landed in, the cache they left is consistent.
    before = cache.compile_stats()
    run_kernel(cache.load_kernel(SOURCE))
    delta = stats_delta(before)
    assert (delta["numba_compiles"], delta["numba_cache_hits"]) == (0, 1)


def test_dump_writes_every_loaded_source(isolated_cache, tmp_path, monkeypatch):
    other = KERNEL_TEMPLATE.format(tag="other")
    cache.load_kernel(other)  # loaded before GRAPHC_DUMP is set: dumped on its next load
    dump = tmp_path / "dump"
    monkeypatch.setenv("GRAPHC_DUMP", str(dump))
    cache.load_kernel(SOURCE)
    cache.load_kernel(other)
    assert sorted(p.name for p in dump.iterdir()) == sorted(
        f"{cache.kernel_key(s)}.py" for s in (SOURCE, other))
    assert (dump / f"{cache.kernel_key(SOURCE)}.py").read_text() == SOURCE
    assert (dump / f"{cache.kernel_key(other)}.py").read_text() == other


def test_key_depends_on_source_codegen_version_numba_and_graphc_imports(monkeypatch):
    source = SOURCE + "from graphc.dtypes import *  # noqa: F403\n"
    key = cache.kernel_key(source)
    assert len(key) == cache.KEY_LENGTH and set(key) <= set("0123456789abcdef")
    assert cache.kernel_key(source) == key
    assert cache.kernel_key(SOURCE) != key
    with monkeypatch.context() as patch:
        patch.setattr(cache, "CODEGEN_VERSION", cache.CODEGEN_VERSION + 1)
        assert cache.kernel_key(source) != key
    with monkeypatch.context() as patch:
        patch.setattr(cache, "_numba_version", lambda: "0.0.0")
        assert cache.kernel_key(source) != key
    with monkeypatch.context() as patch:  # graphc/dtypes.py edited in place
        patch.setitem(cache._dependency_digests, "graphc.dtypes", "0" * 64)
        assert cache.kernel_key(source) != key
        assert cache.kernel_key(SOURCE) == cache.kernel_key(SOURCE)


def test_missing_or_unjitted_entry_is_a_clear_error():
    with pytest.raises(AttributeError, match=r"defines no 'launch'.*'kernel'"):
        cache.load_kernel(SOURCE, entry="launch")
    with pytest.raises(TypeError, match=r"'np' is module, not a numba jitted function"):
        cache.load_kernel(SOURCE, entry="np")


def test_cache_info_and_clear(warm_cache):
    cache.load_kernel(KERNEL_TEMPLATE.format(tag="second"))
    files = [Path(d) / f for d, _, names in os.walk(warm_cache) for f in names
             if f not in ("cache.key", ".lock")]  # graphc's HMAC key and lock files
    info = cache.cache_info()
    assert info == {"dir": str(warm_cache), "kernels": 2, "library_functions": 0,
                    "files": len(files), "bytes": sum(f.stat().st_size for f in files),
                    "max_bytes": 2 << 30}
    assert {f.suffix for f in files} == {".py", ".nbi", ".nbc", ".json"}

    removed = cache.clear_cache()
    assert removed == {"dir": str(warm_cache), "kernels": 2, "library_functions": 0,
                       "files": len(files), "bytes": info["bytes"]}
    assert not any(f.exists() for f in files)
    assert cache.cache_info()["kernels"] == cache.cache_info()["bytes"] == 0

    before = cache.compile_stats()  # loaded kernels were forgotten: written again
    cache.load_kernel(SOURCE)
    assert stats_delta(before)["modules_written"] == 1


def test_numba_cache_dir_does_not_move_graphc_kernels(isolated_cache, tmp_path):
    # NUMBA_CACHE_DIR is the user's, for their own functions: graphc's kernels stay in
    # graphc's cache, where they are verified and `graphc cache clear` finds them.
    numba_dir = tmp_path / "numba"
    result = run_child(tmp_path, isolated_cache, NUMBA_CACHE_DIR=str(numba_dir))
    np.testing.assert_allclose(result["out"], expected_child_output(), rtol=1e-6)
    assert not numba_dir.exists() or not any(numba_dir.rglob("*.nb[ic]"))
    assert len(numba_files(isolated_cache, ".nbi")) == len(numba_files(isolated_cache, ".nbc")) == 1
    assert cache.clear_cache()["files"] == 4  # module, index, data, record


def test_clear_removes_numba_files_an_older_graphc_left_in_the_package(isolated_cache):
    import graphc.kernels.cpu

    pycache = Path(graphc.kernels.cpu.__file__).parent / "__pycache__"
    if not os.access(pycache if pycache.exists() else pycache.parent, os.W_OK):
        pytest.skip("the installed package is read-only")
    pycache.mkdir(exist_ok=True)
    legacy = pycache / "legacy_test.kernel-1.py311.nbi"  # as numba wrote them there
    legacy.write_bytes(b"\x80" * 10)
    removed = cache.clear_cache()
    assert not legacy.exists()
    assert (removed["files"], removed["bytes"]) == (1, 10)
