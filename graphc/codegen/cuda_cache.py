"""The on-disk cache of CUDA kernels: keyed by device and toolchain, verified as the CPU's.

A CUDA kernel source (graphc/codegen/cuda.py) loaded for a GPU goes through the same
cache as the CPU's kernels (graphc.codegen.cache), with three differences:

- **The key** (:func:`cuda_kernel_key`) hashes, besides the source and
  ``CODEGEN_VERSION``, what decides the machine code: the compute capability of the
  device it is compiled for, the numba, numba-cuda and NVVM versions (NVVM's API and IR
  versions, and which libNVVM and libdevice files: the version query reads 2.0 for both
  NVVM 12.x and 13.0), and the digest of graphc/codegen/cuda_mathlib.py, whose device
  functions are inlined into every kernel (numba-cuda's own index key hashes only the
  kernel's bytecode). A kernel compiled for one GPU or toolchain is never another's.
- **The files**: the source is ``<cache>/kernels/c_<key>.py``, imported as
  ``graphc_kernels.c_<key>`` from the verified text (never the file: a tampered file is
  rewritten), and numba-cuda's files (``c_<key>.kernel-<line>.py<XY>.nbi`` and
  ``.<n>.nbc`` pickles of the kernel's PTX and cubin) sit beside the CPU's in
  ``<cache>/kernels/__pycache__`` with graphc's record (``.graphc.json``), so the size
  cap, ``graphc cache info`` and ``clear`` cover them.
- **The cache object**: numba-cuda keeps its own copy of numba's cache classes, so the
  CPU's :class:`~graphc.codegen.numba_cache.KernelCache` cannot serve a CUDA dispatcher;
  :class:`CudaKernelCache` is numba-cuda's ``CUDACache`` with the same verified loading
  and saving (:class:`~graphc.codegen.numba_cache.VerifiedCache`): every file is checked
  against the record before it is unpickled, and one that fails is deleted with one
  ``KernelCacheWarning`` and the kernel recompiles.

The renderer prints ``@cuda.jit`` without ``cache=True``: numba-cuda would look for a
locator at decoration time, and a kernel exec'd in memory (the simulator, compile-only
PTX, no GPU) has no file, so the decorator would raise. graphc attaches its cache to the
dispatcher instead, as it does for CPU kernels. Under the simulator nothing is cached
(graphc.codegen.cuda_ptx.load_cuda_kernel execs the source as before).

Internals of numba-cuda used (0.30.4): ``CUDADispatcher._cache``, ``CUDACache`` (its
``_index_key``, launch-config marker methods, ``_impl`` as numba's),
``numba.cuda.serialize.dumps``, ``numba.cuda.utils.numba_target_override`` and
``numba.cuda.cudadrv.nvvm.NVVM`` (``get_version``, ``get_ir_version``);
tests/codegen/test_cuda_cache.py fails if they move.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

from numba.cuda import serialize, utils
from numba.cuda.dispatcher import CUDACache, CUDACacheImpl

from . import cache
from .numba_cache import VerifiedCache, _AnyFunctionLocator, _VerifiedFile

MATHLIB = "graphc.codegen.cuda_mathlib"  # the device functions every kernel imports

__all__ = ["CudaKernelCache", "cuda_kernel_key", "load_cached_cuda_kernel", "toolchain"]


def cuda_kernel_key(source: str, cc: tuple[int, int]) -> str:
    """The hex key naming CUDA kernel ``source`` compiled for compute capability ``cc``
    with this process's toolchain (module ``c_<key>.py``).

    >>> source = "from numba import cuda\\n@cuda.jit\\ndef kernel(x):\\n    x[0] = 1\\n"
    >>> len(cuda_kernel_key(source, (9, 0)))
    24
    >>> cuda_kernel_key(source, (9, 0)) != cuda_kernel_key(source, (8, 0))
    True
    """
    digest = hashlib.sha256()
    for part in (f"graphc-cuda-codegen-{cache.CODEGEN_VERSION}", f"cc-{cc[0]}.{cc[1]}",
                 *toolchain(), f"{MATHLIB}={cache._module_digest(MATHLIB, ())}",
                 *cache._dependency_fingerprints(source), source):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:cache.KEY_LENGTH]


def toolchain() -> tuple[str, ...]:
    """What compiles a CUDA kernel, as key parts: the numba, numba-cuda and NVVM
    versions and the libNVVM and libdevice files."""
    return (f"numba-{cache._numba_version()}", f"numba-cuda-{_numba_cuda_version()}",
            f"nvvm-{_nvvm_version()}", f"nvvm-files-{_nvvm_files()}")


def load_cached_cuda_kernel(source: str, cc: tuple[int, int], entry: str = "kernel") -> Any:
    """The ``@cuda.jit`` dispatcher ``entry`` of ``source``, through the cache, with
    graphc's verified numba-cuda cache; numba-cuda compiles for the current device at
    the first launch (or loads the cached code). ``cc`` must be the current device's:
    numba-cuda's own index key also holds the device's compute capability, so a wrong
    ``cc`` can only miss, never load code built for another device."""
    cc = (int(cc[0]), int(cc[1]))
    return cache.load_generated(cuda_kernel_key(source, cc), source, "c_", entry,
                                lambda module, dispatcher: use_graphc_cuda_cache(dispatcher))


class _CudaCacheImpl(CUDACacheImpl):
    _locator_classes = [_AnyFunctionLocator]


class _CudaVerifiedFile(_VerifiedFile):
    """numba-cuda's index and data files, through graphc's record."""

    def _dump(self, obj: Any) -> bytes:
        return serialize.dumps(obj)  # numba-cuda's pickler (codegen objects reduce there)


class CudaKernelCache(VerifiedCache, CUDACache):
    """numba-cuda's per-kernel cache for one of graphc's CUDA kernels: located in
    graphc's cache, each file verified against graphc's record before it is unpickled."""

    _impl_class = _CudaCacheImpl
    _file_class = _CudaVerifiedFile

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        with utils.numba_target_override():  # as numba-cuda's CUDACache does
            return super().load_overload(sig, target_context)

    def is_launch_config_sensitive(self) -> bool:
        return False

    def mark_launch_config_sensitive(self) -> bool:
        # numba-cuda marks a kernel whose code depends on its launch shape with an empty
        # file whose mere presence changes the index key: an unrecorded file graphc
        # cannot verify. Refusing makes numba-cuda keep such a kernel in memory only
        # (graphc's kernels are never launch-config sensitive).
        return False


def use_graphc_cuda_cache(dispatcher: Any) -> None:
    """Give a ``@cuda.jit`` dispatcher of a generated module graphc's verified cache
    (a dispatcher that has one already is left as it is)."""
    if not isinstance(getattr(dispatcher, "_cache", None), CudaKernelCache):
        dispatcher._cache = CudaKernelCache(dispatcher.py_func)


# ------------------------------------------------------------------ toolchain parts


@functools.lru_cache(maxsize=1)
def _numba_cuda_version() -> str:
    import numba_cuda

    return numba_cuda.__version__  # what numba-cuda puts in its own index key


@functools.lru_cache(maxsize=1)
def _nvvm_version() -> str:
    """libNVVM's API and IR versions (``2.0-ir2.0.3.2`` for NVVM 13.0), or why none."""
    try:
        from numba.cuda.cudadrv import nvvm

        found = nvvm.NVVM()
        api, ir = found.get_version(), found.get_ir_version()
    except Exception as exc:  # no NVVM: nothing compiles; the key just says so
        return f"unavailable:{type(exc).__name__}"
    return f"{'.'.join(map(str, api))}-ir{'.'.join(map(str, ir))}"


@functools.lru_cache(maxsize=1)
def _nvvm_files() -> str:
    """Which libNVVM (name, size, mtime: the file is 60 MB, too long to hash at each
    start) and libdevice (its digest: 0.5 MB, linked into every kernel) are used."""
    parts = []
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        library = load_nvidia_dynamic_lib("nvvm").abs_path  # the one cuda.bindings loaded
        st = os.stat(library)
        parts.append(f"{Path(library).name}:{st.st_size}:{st.st_mtime_ns}")
    except Exception as exc:
        parts.append(f"libnvvm-unknown:{type(exc).__name__}")
    try:
        from numba.cuda.cudadrv.libs import get_libdevice

        with open(get_libdevice(), "rb") as f:
            parts.append(f"libdevice:{hashlib.sha256(f.read()).hexdigest()[:16]}")
    except Exception as exc:
        parts.append(f"libdevice-unknown:{type(exc).__name__}")
    return ",".join(parts)
