"""The CUDA matmul library kernels without a GPU: the tiled numba kernel compiled to PTX
for compute capability 9.0 (where numba-cuda and NVVM are installed: the ``cuda`` extra)
and the cuBLAS path's plumbing (CuPy is optional and absent here: :func:`available`
says why, and a stand-in ``cupy`` module checks what would be called). Running the
kernel is tests/kernels/cudasim_matmul.py (the simulator, its own process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
from graphc.kernels.cuda import cublas, matmul

from graphc.codegen import cuda_ptx
from graphc.codegen.cuda_ptx import MAX_PTX_VERSION, PTXVersionError, ptx_version
from tests.codegen.ptx_probe import ptx_unavailable


@pytest.fixture(scope="module")
def nvvm():
    reason = ptx_unavailable()
    if reason:
        pytest.skip(reason)


def instructions(ptx: str) -> str:
    """The PTX without its comments (which name source files and the compiler)."""
    return "\n".join(line for line in ptx.splitlines() if not line.lstrip().startswith("//"))


@pytest.mark.parametrize("dtype", matmul.DTYPES)
def test_the_tiled_kernel_compiles_to_ptx_9_0_for_cc_9_0(nvvm, dtype):
    ptx = instructions(matmul.ptx_for(dtype, cc=(9, 0)))
    assert ptx_version(ptx) <= MAX_PTX_VERSION
    assert re.search(r"^\s*\.target\s+sm_90\b", ptx, re.M)
    # Two shared tiles; a fixed order: no atomics, no warp shuffles.
    assert len(re.findall(r"\.shared\s+\.align\s+\d+\s+\.b8\s+\w+\[", ptx)) == 2
    assert not re.search(r"\b(atom|red|shfl)\.", ptx)
    assert "bar.sync" in ptx


def test_float32_stays_float32_and_float16_computes_in_float32(nvvm):
    # numba widens float32 * a Python number to float64: the typed zeros prevent it.
    assert ".f64" not in instructions(matmul.ptx_for("float32"))
    half = instructions(matmul.ptx_for("float16"))
    assert ".f64" not in half and re.search(r"\bfma\.rn\.f32\b", half)
    assert re.search(r"\bcvt\.rn\.f16\.f32\b", half)  # rounded once, at the store


def test_the_batched_variant_compiles_too(nvvm):
    ptx = matmul.ptx_for("float32", ndim=3, tile=32)
    assert ptx_version(ptx) <= MAX_PTX_VERSION
    assert "_cudapy_smem" in ptx and "[4096]" in ptx  # 32 x 32 float32 tiles


def test_a_newer_ptx_than_the_driver_loads_is_refused(nvvm, monkeypatch):
    monkeypatch.setattr(cuda_ptx, "MAX_PTX_VERSION", (8, 0))
    with pytest.raises(PTXVersionError, match="newer than 8.0"):
        matmul.ptx_for("float32")


def test_unsupported_dtypes_fail_naming_them():
    with pytest.raises(TypeError, match="not bool"):
        matmul.ptx_for(np.bool_)
    with pytest.raises(TypeError, match="not complex64"):
        matmul.tiled_kernel(np.complex64)
    with pytest.raises(ValueError, match="not 4-D"):
        matmul.ptx_for("float32", ndim=4)


def test_the_grid_has_one_block_per_output_tile_up_to_a_cap():
    assert matmul.grid(1, 5, 3, tile=4) == 2
    assert matmul.grid(3, 32, 48, tile=16) == 3 * 2 * 3
    assert matmul.grid(3, 32, 48, tile=16, max_blocks=4) == 4
    assert matmul.grid(1, 0, 3) == 1


def test_importing_the_kernels_imports_neither_numba_cuda_nor_cupy():
    code = ("import sys, graphc.kernels.cuda.matmul, graphc.kernels.cuda.cublas; "
            "print(sorted(m for m in ('numba.cuda', 'cupy') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# cuBLAS through CuPy: CuPy is not installed here, and no GPU is.

def test_cublas_says_why_it_is_unavailable_without_crashing():
    ok, reason = cublas.available()
    assert isinstance(ok, bool) and isinstance(reason, str) and reason
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert not ok and ("CuPy is not installed" in reason or "simulator" in reason)


class FakeStream:
    """A numba stream's shape: its handle, and the CUDA stream protocol."""

    def __init__(self, pointer: int):
        self.handle = pointer

    def __cuda_stream__(self):
        return 0, self.handle


class FakeDeviceArray:
    def __init__(self, shape):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "version": 3,
                                         "data": (0x1000, False), "stream": 7}


def fake_cupy(monkeypatch, *, devices=1, from_external=True, tf32="0"):
    """A stand-in ``cupy`` recording what graphc's cuBLAS path asks of it."""
    calls: list = []

    class Stream:
        def __init__(self, pointer):
            self.ptr = pointer

        def __enter__(self):
            calls.append(("enter", self.ptr))

        def __exit__(self, *exc):
            calls.append(("exit", self.ptr))

    def count():
        if devices is None:
            raise RuntimeError("cudaErrorInsufficientDriver")
        return devices

    cupy = types.ModuleType("cupy")
    cupy.__version__ = "14.0.0"
    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=count),
        device=types.SimpleNamespace(get_cublas_handle=lambda: 1),
        Stream=types.SimpleNamespace(), ExternalStream=lambda p: Stream(("legacy", p)))
    if from_external:
        cupy.cuda.Stream.from_external = lambda obj: Stream(obj.__cuda_stream__()[1])
    cupy.asarray = lambda obj: ("view", obj.__cuda_array_interface__)
    cupy.matmul = lambda a, b, out: calls.append(("matmul", a, b, out))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy._core", None)  # no internals: the variable
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setenv("CUPY_TF32", tf32)
    monkeypatch.setattr(cublas, "available", cublas.available.__wrapped__)
    return calls


def test_cublas_runs_on_the_callers_stream_without_synchronising(monkeypatch):
    calls = fake_cupy(monkeypatch)
    assert cublas.available() == (True, "CuPy 14.0.0, cuBLAS on 1 device(s)")
    a, b, out = FakeDeviceArray((2, 3)), FakeDeviceArray((3, 4)), FakeDeviceArray((2, 4))
    cublas.matmul_into(a, b, out, FakeStream(0xBEEF))
    assert [c[0] for c in calls] == ["enter", "matmul", "exit"]
    assert calls[0] == ("enter", 0xBEEF)
    _, *views = calls[1]
    assert [v[1]["shape"] for v in views] == [(2, 3), (3, 4), (2, 4)]
    # The arrays' own stream entry is dropped: CuPy would synchronise the host with it.
    assert all("stream" not in v[1] for v in views)
    assert a.__cuda_array_interface__["stream"] == 7  # the caller's array is untouched


def test_cublas_before_cupy_14_takes_the_stream_as_an_external_stream(monkeypatch):
    calls = fake_cupy(monkeypatch, from_external=False)
    cublas.matmul_into(FakeDeviceArray((1, 1)), FakeDeviceArray((1, 1)),
                       FakeDeviceArray((1, 1)), 0)
    assert calls[0] == ("enter", ("legacy", 0))


@pytest.mark.parametrize("kw, why", [
    ({"devices": None}, "no usable CUDA device"),
    ({"devices": 0}, "no CUDA device"),
    ({"tf32": "1"}, "CUPY_TF32"),
])
def test_cublas_is_unavailable_without_a_device_or_with_tf32(monkeypatch, kw, why):
    fake_cupy(monkeypatch, **kw)
    ok, reason = cublas.available()
    assert not ok and why in reason


def test_numba_stream_handles_become_pointers():
    assert cublas.stream_pointer(0) == 0
    assert cublas.stream_pointer(FakeStream(0x1234)) == 0x1234

    class OldNumbaStream:  # numba before numba-cuda: a ctypes c_void_p handle
        def __init__(self, value):
            self.handle = types.SimpleNamespace(value=value)

    assert cublas.stream_pointer(OldNumbaStream(None)) == 0
    assert cublas.stream_pointer(OldNumbaStream(0x99)) == 0x99
