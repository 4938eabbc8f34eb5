"""Device names, the default device and GRAPHC_DEFAULT_DEVICE (graphc/device.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc import device as device_mod
from graphc.device import Device, canonical_device
from graphc.ir.device import device_stream


@pytest.fixture
def restore_default_device():
    saved = graphc.get_default_device()
    yield
    graphc.set_default_device(saved)


@pytest.fixture
def no_gpu(monkeypatch):
    """Make 'no usable GPU' explicit, whatever machine the tests run on."""
    monkeypatch.setattr(device_mod, "gpu_usable", lambda: False)


@pytest.mark.parametrize(("name", "logical"), [
    ("cpux", "cpux"), ("cpu0", "cpu0"), ("cpu1", "cpu1"), ("gpux", "gpux"), ("gpu0", "gpu0"),
    ("xpux", "xpux"), ("cpu0:1", "cpu0"), ("xpux:0", "xpux"), ("gpu3:2", "gpu3"),
    # MegEngine's forms (issue 20): a device number after the colon, xpu<N> with a stream
    ("cpu:0", "cpu0"), ("cpu:1", "cpu1"), ("gpu:2", "gpu2"), ("xpu0:1", "xpu0"),
    ("xpu1", "xpu1"),
])
def test_valid_names(name, logical):
    assert canonical_device(name) == logical
    d = Device(name)
    assert d.logical_name == logical
    assert str(d) == repr(d) == f"{logical}:0"


@pytest.mark.parametrize("name", ["", "cpu", "gpu", "cuda", "cuda:0", "tpu0", "CPU0", "cpu-1",
                                  "cpu0:", "cpux:a", " cpu0", 0, "cpu:", "cpu:x", "cpu:0:1",
                                  "cpux:0:1"])
def test_invalid_names_list_valid_forms(name):
    with pytest.raises(ValueError) as info:
        canonical_device(name)
    message = str(info.value)
    for form in ("cpux", "cpu0", "gpux", "gpu0", "xpux"):
        assert form in message
    with pytest.raises(ValueError):
        graphc.tensor([1.0], device=name)


def test_device_equality_with_strings_and_devices():
    d = Device("cpu0")
    assert d == "cpu0" and d == "cpu0:0" and d == Device("cpu0:3")
    assert d != "cpu1" and d != "cpux" and d != "bogus"
    assert d != 3
    assert hash(d) == hash(Device("cpu0"))
    assert len({Device("cpu0"), Device("cpu0:1"), Device("cpux")}) == 2


def test_physical_device_of_cpu_names(no_gpu):
    assert Device("cpu0").physical == "cpu"
    assert Device("cpux").physical == "cpu"
    assert Device("xpux").physical == "cpu"  # xpux falls back to the CPU without a GPU


def test_default_device_is_used_for_new_tensors(restore_default_device):
    graphc.set_default_device("cpu0")
    assert graphc.get_default_device() == "cpu0"
    t = graphc.tensor([1.0, 2.0])
    assert t.device == "cpu0"
    assert (t * 2).device == "cpu0"
    assert graphc.tensor([1.0], device="cpux").device == "cpux"
    graphc.set_default_device()
    assert graphc.get_default_device() == "xpux"


def test_set_default_device_rejects_bad_names(restore_default_device):
    before = graphc.get_default_device()
    with pytest.raises(ValueError):
        graphc.set_default_device("cuda")
    assert graphc.get_default_device() == before


@pytest.mark.parametrize("name", ["gpu0", "gpux", "gpu1:0"])
def test_requesting_a_gpu_without_one_raises(no_gpu, restore_default_device, name):
    before = graphc.get_default_device()
    with pytest.raises(RuntimeError, match=name.split(":")[0]) as info:
        graphc.tensor([1.0], device=name)
    assert "GPU" in str(info.value)
    with pytest.raises(RuntimeError, match="GPU"):
        graphc.tensor([1.0]).to(name)
    with pytest.raises(RuntimeError, match="GPU"):
        graphc.set_default_device(name)
    assert graphc.get_default_device() == before


def test_to_moves_between_cpu_devices():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = graphc.tensor(a, device="cpu0")
    moved = t.to("cpu1")
    assert moved.device == "cpu1" and t.device == "cpu0"
    np.testing.assert_array_equal(moved.numpy(), a)


def _python_with_env(code: str, value: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRAPHC_DEFAULT_DEVICE=value, GRAPHC_BACKEND="interp")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def test_env_var_sets_default_device_at_import():
    code = "import graphc; print(graphc.get_default_device(), graphc.tensor([1.0]).device)"
    done = _python_with_env(code, "cpu0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cpu0", "cpu0:0"]


def test_invalid_env_var_fails_at_import():
    done = _python_with_env("import graphc", "cuda0")
    assert done.returncode != 0
    assert "ValueError" in done.stderr and "cuda0" in done.stderr


def test_megengine_device_names_work_as_default_and_tensor_devices(restore_default_device):
    graphc.set_default_device("cpu:1")
    assert graphc.get_default_device() == "cpu1"
    assert graphc.tensor([1.0]).device == "cpu1"
    graphc.set_default_device("xpu0:1")
    assert graphc.get_default_device() == "xpu0"
    t = graphc.tensor([1.0, 2.0], device="cpu:0") + 1
    assert t.device == "cpu0" and t.device == Device("cpu0:3")
    np.testing.assert_array_equal(t.numpy(), [2.0, 3.0])


@pytest.mark.parametrize(("spec", "stream"), [("gpu0:1", 1), ("xpu0:2", 2), ("gpu0", None),
                                              ("gpu:1", None), ("cpux:0", 0)])
def test_the_stream_of_a_device_spec(spec, stream):
    # gpu:1 names device 1 (no stream); gpu0:1 names stream 1 of device 0.
    assert device_stream(spec) == stream


def test_device_counts_and_cuda_availability_without_a_gpu(no_gpu):
    assert graphc.is_cuda_available() is False
    assert graphc.get_device_count("gpu") == 0
    assert graphc.get_device_count("cpu") == os.cpu_count()


def test_device_counts_with_a_gpu(monkeypatch):
    from graphc.backends.cuda_device import GpuStatus

    monkeypatch.setattr(device_mod, "gpu_usable", lambda: True)
    monkeypatch.setattr(device_mod, "gpu_status", lambda: GpuStatus(True, "two GPUs",
                                                                    device_count=2))
    assert graphc.is_cuda_available() is True
    assert graphc.get_device_count("gpu") == 2


def test_device_count_of_an_unknown_type_is_a_clear_error():
    with pytest.raises(ValueError, match="get_device_count: device_type must be 'cpu' or "
                                         "'gpu', got 'tpu'"):
        graphc.get_device_count("tpu")


def test_device_count_under_the_cuda_simulator():
    # The simulator stands in for one GPU (tests/codegen/test_cuda_sim.py runs on it).
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (the cuda extra)")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", GRAPHC_GPU="1", GRAPHC_BACKEND="interp")
    code = "import graphc; print(graphc.is_cuda_available(), graphc.get_device_count('gpu'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "1"]
