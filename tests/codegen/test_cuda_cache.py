"""CUDA kernels in the on-disk kernel cache (issue 17 item 6): the key holds the device's
compute capability and the toolchain; the source is verified before import; numba-cuda's
files are verified before they are unpickled (graphc/codegen/cuda_cache.py).

No GPU is needed: a kernel loaded with an explicit ``cc`` goes through the cache without
a driver, and numba-cuda's cache object is driven with a stand-in kernel and target
context (what numba-cuda's dispatcher hands it: ``_reduce_states()``, a codegen whose
``magic_tuple()`` holds the device's compute capability). Loading real compiled code
needs a GPU and is left to the GPU check script.
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (the cuda extra)")

from numba import types  # noqa: E402

from graphc.codegen import cache, cache_index, cuda_cache, cuda_ptx  # noqa: E402
from tests.codegen.cache_helpers import isolated  # noqa: E402

# A kernel whose py_func also runs as plain Python: what it computes shows which text
# was imported.
KERNEL = "from numba import cuda\n\n\n@cuda.jit\ndef kernel(out):\n    out[0] = {value}\n"
ONE, TWO = KERNEL.format(value="1.0"), KERNEL.format(value="2.0")
CC = (9, 0)
SIG = (types.float32[::1],)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(cuda_ptx, "_simulating", lambda: False)  # the real numba-cuda
    yield from isolated(monkeypatch, tmp_path / "cache")


def run_py_func(dispatcher) -> float:
    out = np.zeros(1, np.float32)
    dispatcher.py_func(out)
    return float(out[0])


def module_file(root: Path, source: str, cc=CC) -> Path:
    return root / "kernels" / f"c_{cuda_cache.cuda_kernel_key(source, cc)}.py"


# ----------------------------------------------------------------------------- key


def test_the_key_holds_compute_capability_and_toolchain(monkeypatch):
    base = cuda_cache.cuda_kernel_key(ONE, CC)
    assert cuda_cache.cuda_kernel_key(ONE, CC) == base  # stable within a process
    assert cuda_cache.cuda_kernel_key(ONE, (8, 0)) != base
    assert cuda_cache.cuda_kernel_key(ONE, (9, 1)) != base
    assert cuda_cache.cuda_kernel_key(TWO, CC) != base
    assert base != cache.kernel_key(ONE)  # never the CPU kernel of the same text
    for name, value in [("_numba_cuda_version", "0.30.5"), ("_nvvm_version", "2.0-ir2.0.3.3"),
                        ("_nvvm_files", "libnvvm.so.4:1:2,libdevice:00")]:
        with monkeypatch.context() as patch:
            patch.setattr(cuda_cache, name, lambda value=value: value)
            assert cuda_cache.cuda_kernel_key(ONE, CC) != base, name
    with monkeypatch.context() as patch:
        patch.setattr(cache, "_numba_version", lambda: "0.99.0")
        assert cuda_cache.cuda_kernel_key(ONE, CC) != base
    with monkeypatch.context() as patch:
        patch.setattr(cache, "CODEGEN_VERSION", cache.CODEGEN_VERSION + 1)
        assert cuda_cache.cuda_kernel_key(ONE, CC) != base


def test_the_key_holds_the_device_functions_digest(monkeypatch):
    base = cuda_cache.cuda_kernel_key(ONE, CC)  # ONE does not even import them
    monkeypatch.setitem(cache._dependency_digests, cuda_cache.MATHLIB, "0" * 64)
    assert cuda_cache.cuda_kernel_key(ONE, CC) != base


def test_the_nvvm_version_is_queried_from_libnvvm():
    from numba.cuda.cudadrv import nvvm

    if not nvvm.is_available():
        pytest.skip("libNVVM is not installed")
    found = nvvm.NVVM()
    api = ".".join(map(str, found.get_version()))
    assert cuda_cache._nvvm_version() == f"{api}-ir{'.'.join(map(str, found.get_ir_version()))}"
    assert "libnvvm" in cuda_cache._nvvm_files() and "libdevice:" in cuda_cache._nvvm_files()


# -------------------------------------------------------------------------- source


def test_the_source_goes_to_the_cache_keyed_by_compute_capability(isolated_cache):
    for cc in (CC, (8, 0)):
        dispatcher = cuda_ptx.load_cuda_kernel(ONE, cc=cc)
        assert isinstance(dispatcher._cache, cuda_cache.CudaKernelCache)
        assert module_file(isolated_cache, ONE, cc).read_text() == ONE
    assert cuda_ptx.load_cuda_kernel(ONE, cc=CC) is cuda_ptx.load_cuda_kernel(ONE, cc=CC)
    assert cache.cache_info()["kernels"] == 2  # counted, capped and cleared as the CPU's
    assert cache.clear_cache()["kernels"] == 2
    assert not module_file(isolated_cache, ONE).exists()


def test_a_tampered_source_file_is_rewritten_and_never_imported(isolated_cache):
    cuda_ptx.load_cuda_kernel(ONE, cc=CC)
    path = module_file(isolated_cache, ONE)
    path.write_text(KERNEL.format(value="666.0"))
    cache._forget_loaded_kernels()  # as a new process

    dispatcher = cuda_ptx.load_cuda_kernel(ONE, cc=CC)
    assert run_py_func(dispatcher) == 1.0  # the verified text was compiled, not the file
    assert path.read_text() == ONE


def test_no_device_simulator_or_compile_only_runs_in_memory(isolated_cache, monkeypatch):
    monkeypatch.setattr(cuda_ptx, "_current_compute_capability", lambda: None)
    assert run_py_func(cuda_ptx.load_cuda_kernel(ONE)) == 1.0  # no GPU: nothing to key
    assert run_py_func(cuda_ptx.load_cuda_kernel(ONE, cc=CC, cache=False)) == 1.0
    monkeypatch.setattr(cuda_ptx, "_simulating", lambda: True)
    assert run_py_func(cuda_ptx.load_cuda_kernel(ONE, cc=CC)) == 1.0
    assert not isolated_cache.exists()  # nothing written


def test_without_cc_the_current_devices_is_used(isolated_cache, monkeypatch):
    monkeypatch.setattr(cuda_ptx, "_current_compute_capability", lambda: (8, 6))
    dispatcher = cuda_ptx.load_cuda_kernel(ONE)
    assert isinstance(dispatcher._cache, cuda_cache.CudaKernelCache)
    assert module_file(isolated_cache, ONE, (8, 6)).exists()


# ------------------------------------------------------- numba-cuda's cache files


def fake_codegen(cc=CC):
    return SimpleNamespace(magic_tuple=lambda: ((13, 0), cc))


def fake_kernel(name: str, cc=CC, signature=None):
    """What numba-cuda's dispatcher saves: a compiled kernel's ``_reduce_states()``
    (the keyword arguments of ``_Kernel._rebuild``) and its codegen."""
    states = dict(cooperative=False, name=name, signature=signature or types.void(*SIG),
                  codelibrary=f"PTX and cubin of {name}", debug=False, lineinfo=False,
                  call_helper=None, extensions=[], shared_memory_carveout=None,
                  launch_config_sensitive=False)
    return SimpleNamespace(_reduce_states=lambda: states, codegen=fake_codegen(cc))


def fake_context(cc=CC):
    return SimpleNamespace(refresh=lambda: None, codegen=lambda: fake_codegen(cc))


def saved(source: str):
    """A CUDA kernel's dispatcher whose cache holds one compiled signature (its entry
    point named after the source: "one" or "two")."""
    dispatcher = cuda_ptx.load_cuda_kernel(source, cc=CC)
    dispatcher._cache.save_overload(SIG, fake_kernel("one" if source == ONE else "two"))
    return dispatcher


def entry_files(root: Path, source: str) -> dict[str, Path]:
    """The numba-cuda files of ``source``'s entry by suffix: .nbi, .nbc, .json (record)."""
    key = cuda_cache.cuda_kernel_key(source, CC)
    return {p.suffix: p for p in (root / "kernels" / "__pycache__").glob(f"c_{key}.*")}


def load(dispatcher, cc=CC):
    """Load the cached signature as numba-cuda's dispatcher would; the warnings given."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kernel = dispatcher._cache.load_overload(SIG, fake_context(cc))
    return kernel, [str(w.message) for w in caught]


def test_numba_cuda_files_are_recorded_and_load_verified(isolated_cache):
    dispatcher = saved(ONE)
    files = entry_files(isolated_cache, ONE)
    assert set(files) == {".nbi", ".nbc", ".json"}  # index, data, graphc's record
    record = cache_index.read_record(files[".json"], cuda_cache.cuda_kernel_key(ONE, CC))
    assert set(record) == {files[".nbi"].name, files[".nbc"].name}

    kernel, caught = load(dispatcher)
    assert caught == []
    assert (type(kernel).__name__, kernel.entry_name) == ("_Kernel", "one")
    assert kernel._codelibrary == "PTX and cubin of one"
    assert load(dispatcher, cc=(8, 0)) == (None, [])  # numba-cuda's key: another device


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
def test_a_planted_pickle_is_never_unpickled(isolated_cache, tmp_path, suffix):
    dispatcher = saved(ONE)
    marker = tmp_path / "planted-pickle-ran"
    entry_files(isolated_cache, ONE)[suffix].write_bytes(
        pickle.dumps(_Planted(marker)))

    kernel, caught = load(dispatcher)
    assert kernel is None and not marker.exists()
    (warning,) = caught
    assert f"{suffix} does not match graphc's record" in warning and "rebuilt" in warning
    assert entry_files(isolated_cache, ONE) == {}  # deleted: the kernel recompiles


def test_an_entry_copied_from_another_kernel_does_not_load(isolated_cache):
    one, two = saved(ONE), saved(TWO)
    key_one = cuda_cache.cuda_kernel_key(ONE, CC)
    key_two = cuda_cache.cuda_kernel_key(TWO, CC)
    for path in entry_files(isolated_cache, TWO).values():  # TWO's code as ONE's
        shutil.copy(path, path.with_name(path.name.replace(key_two, key_one)))
    kernel, caught = load(one)
    assert kernel is None and len(caught) == 1 and "does not match" in caught[0]
    assert load(two)[0].entry_name == "two"  # the original still loads


def test_an_entry_copied_from_another_cache_does_not_load(isolated_cache, tmp_path,
                                                          monkeypatch):
    saved(ONE)
    other = tmp_path / "other"
    shutil.copytree(isolated_cache, other)
    os.unlink(other / cache_index.SECRET_NAME)  # another cache has another secret
    cache_index.secret(other)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(other))
    cache._forget_loaded_kernels()
    kernel, caught = load(cuda_ptx.load_cuda_kernel(ONE, cc=CC))
    assert kernel is None and len(caught) == 1 and "does not match" in caught[0]


def test_an_entry_for_another_signature_is_refused(isolated_cache):
    dispatcher = cuda_ptx.load_cuda_kernel(ONE, cc=CC)
    dispatcher._cache.save_overload(SIG, fake_kernel("x", signature=types.void(
        types.float64[::1])))
    kernel, caught = load(dispatcher)
    assert kernel is None and "not (" in caught[0]


def test_launch_config_sensitive_kernels_are_not_cached(isolated_cache):
    cache_object = cuda_ptx.load_cuda_kernel(ONE, cc=CC)._cache
    assert cache_object.mark_launch_config_sensitive() is False  # numba-cuda: memory only
    assert not list(isolated_cache.rglob("*.lcs"))
    # numba-cuda's marker is an empty file whose presence changes the index key: a
    # planted one must not count.
    marker = Path(cache_object.cache_path) / f"{cache_object._impl.filename_base}.lcs"
    marker.parent.mkdir(parents=True)
    marker.touch()
    assert not cache_object.is_launch_config_sensitive()


def test_an_untrusted_cache_is_neither_read_nor_written(isolated_cache):
    dispatcher = saved(ONE)
    isolated_cache.chmod(0o777)
    kernel, caught = load(dispatcher)
    assert kernel is None and "not using the kernel cache" in caught[0]
    before = sorted(isolated_cache.rglob("*"))
    dispatcher._cache.save_overload(SIG, fake_kernel("again"))
    assert sorted(isolated_cache.rglob("*")) == before


class _Planted:
    """A pickle that runs a command when loaded (here: makes a directory)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))
