"""The CUDA pooling kernels (graphc.kernels.cuda.pool) under numba's CUDA simulator: only
with ``NUMBA_ENABLE_CUDASIM=1``, in a pytest process of its own
(tests/codegen/test_cuda_sim.py starts it; the name keeps the main suite from collecting
this module).

Graphs on ``gpu0`` (the simulator as the device) against the same graphs on ``cpux``:
max and average pooling with strides, padding and both average modes, adaptive pools,
their gradients and the second-order ``max_pool2d_select``, ties and NaN resolved as on
the CPU, float16; then the kernels alone: strided device views, float64, and the same
bits across repeated runs and launch shapes. The simulator costs about 0.5 ms per
simulated thread: shapes are tiny and each graph computes several results at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.gpu_gate import require_gpu_or_simulator

require_gpu_or_simulator()

from graphc.kernels.cpu import pool as cpu_pool  # noqa: E402
from graphc.kernels.cuda import pool  # noqa: E402
from numba import cuda  # noqa: E402

import graphc as gc  # noqa: E402
import graphc.functional as F  # noqa: E402

rng = np.random.default_rng(18)

# (kernel, stride, padding): disjoint windows, overlapping ones (a pixel in several),
# padding on both axes, a rectangular kernel with unequal strides.
GEOMETRIES = [(2, 2, 0), (3, 1, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))]
MODES = ("average", "average_count_exclude_padding")


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def on(device: str, array: np.ndarray) -> gc.Tensor:
    return gc.tensor(array, device=device)


def same(gpu: np.ndarray, cpu: np.ndarray) -> None:
    """Equal bits, NaN where the CPU has NaN: the kernels add in the CPU's order."""
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape
    np.testing.assert_array_equal(gpu, cpu)


def pools_and_grads(device: str, a: np.ndarray, weights: list[np.ndarray]) -> list:
    """Every pooling of ``a`` in GEOMETRIES (max, both average modes) and the gradient of
    ``sum(pool * weight)`` for each, computed as one graph on ``device``."""
    x = on(device, a)
    results = []
    for k, s, p in GEOMETRIES:
        pools = [F.max_pool2d(x, k, s, p)] + [F.avg_pool2d(x, k, s, p, mode=m) for m in MODES]
        for y in pools:
            weight = on(device, weights[len(results) // 2])
            results += [y, gc.grad((y * weight).sum(), x)]
    gc.realize(*results)
    return [t.numpy() for t in results]


def weights_for(a: np.ndarray) -> list[np.ndarray]:
    """A random weight of each pooled shape, in pools_and_grads' order."""
    x = gc.tensor(a, device="cpux")
    return [rng.standard_normal(F.max_pool2d(x, k, s, p).shape).astype(a.dtype)
            for k, s, p in GEOMETRIES for _ in range(1 + len(MODES))]


def test_pools_and_their_gradients_match_the_cpu():
    a = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    w = weights_for(a)
    for gpu, cpu in zip(pools_and_grads("gpu0", a, w), pools_and_grads("cpux", a, w)):
        same(gpu, cpu)


def test_ties_and_nan_go_where_the_cpu_sends_them():
    a = np.ones((1, 2, 4, 5), np.float32)  # every window all ties
    a[0, 1, 2, 3] = np.nan  # a NaN wins its windows (and takes their gradient)
    w = weights_for(a)
    gpu, cpu = pools_and_grads("gpu0", a, w), pools_and_grads("cpux", a, w)
    for g, c in zip(gpu, cpu):
        same(g, c)
    # Channel 0, disjoint 2x2 windows: the gradient lands on each window's first element.
    dx = gpu[1][0, 0]
    assert np.count_nonzero(dx) == 4 and all(dx[i, j] != 0 for i in (0, 2) for j in (0, 2))


def test_float16_computes_in_float32_as_on_the_cpu():
    a = (rng.standard_normal((1, 2, 5, 5)) * 4).astype(np.float16)
    w = rng.standard_normal((1, 2, 5, 5)).astype(np.float16)

    def run(device: str) -> list[np.ndarray]:
        x = on(device, a)
        outs = [F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 1, 1),
                gc.grad((F.avg_pool2d(x, 2, 1, mode="average") * on(device, w[..., :4, :4])
                         ).sum(), x),
                gc.grad((F.max_pool2d(x, 3, 1, 1) * on(device, w[..., :5, :5])).sum(), x)]
        gc.realize(*outs)
        return [t.numpy() for t in outs]

    for gpu, cpu in zip(run("gpu0"), run("cpux")):
        assert gpu.dtype == np.float16
        same(gpu, cpu)


def test_adaptive_pools_and_gradients_match_the_cpu():
    a = rng.standard_normal((1, 3, 7, 5)).astype(np.float32)

    def run(device: str) -> list[np.ndarray]:
        x = on(device, a)
        avg, big = F.adaptive_avg_pool2d(x, (3, 2)), F.adaptive_max_pool2d(x, (2, 2))
        outs = [avg, big, F.adaptive_max_pool2d(x, 1), gc.grad((avg * avg).sum(), x),
                gc.grad((big * big).sum(), x)]
        gc.realize(*outs)
        return [t.numpy() for t in outs]

    for gpu, cpu in zip(run("gpu0"), run("cpux")):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)


def test_second_order_max_pool_gradients_select_as_on_the_cpu():
    a = np.round(rng.standard_normal((1, 2, 5, 5)), 1).astype(np.float32)  # some ties
    dy = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    v = rng.standard_normal(a.shape).astype(np.float32)

    def run(device: str) -> list[np.ndarray]:
        x, w = on(device, a), on(device, dy)
        dx = gc.grad((F.max_pool2d(x, 3, 2, 1) * w).sum(), x)  # max_pool2d_backward
        dw = gc.grad((dx * on(device, v)).sum(), w)  # max_pool2d_select
        gc.realize(dx, dw)
        return [dx.numpy(), dw.numpy()]

    for gpu, cpu in zip(run("gpu0"), run("cpux")):
        same(gpu, cpu)


def test_repeated_runs_give_the_same_bits():
    a = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    x = on("gpu0", a)

    def run() -> list[bytes]:
        outs = [gc.grad((F.max_pool2d(x, 3, 1, 1) ** 2).sum(), x),
                gc.grad((F.avg_pool2d(x, 3, 1, 1) ** 2).sum(), x)]
        gc.realize(*outs)
        return [t.numpy().tobytes() for t in outs]

    first = run()
    assert run() == first and run() == first


# ---- the kernels alone ------------------------------------------------------------


def cpu_reference(name: str, arrays: list[np.ndarray], out_shape: tuple, geometry: tuple,
                  exclude: bool) -> np.ndarray:
    """The CPU backend's kernel for ``name`` on contiguous float32/64 copies."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    out = np.empty(out_shape, arrays[0].dtype)
    flat = [v for pair in geometry for v in pair]
    if name == "max_forward":
        cpu_pool.max_pool2d_forward(*arrays, out, *flat)
    elif name == "max_backward":
        cpu_pool.max_pool2d_backward(*arrays, out, *flat)
    elif name == "avg_forward":
        cpu_pool.avg_pool2d_forward(*arrays, out, *flat, exclude)
    else:
        cpu_pool.avg_pool2d_backward(*arrays, out, *flat, exclude)
    return out


def run_kernel(name: str, arrays: list, out_shape: tuple, geometry: tuple, exclude: bool,
               **launch) -> np.ndarray:
    out = cuda.device_array(out_shape, arrays[0].dtype)
    stream = cuda.stream()
    if name == "max_forward":
        pool.max_pool2d_into(*arrays, out, *geometry, stream, **launch)
    elif name == "max_backward":
        pool.max_pool2d_backward_into(*arrays, out, *geometry, stream, **launch)
    elif name == "avg_forward":
        pool.avg_pool2d_into(*arrays, out, *geometry, exclude, stream, **launch)
    else:
        pool.avg_pool2d_backward_into(*arrays, out, *geometry, exclude, stream, **launch)
    return out.copy_to_host(stream=stream)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_views_and_float64_match_the_cpu_kernels(dtype):
    base = rng.standard_normal((2, 3, 6, 12)).astype(dtype)
    dev = cuda.to_device(base)
    view, host = dev[:, 1:, :, ::2], base[:, 1:, :, ::2]  # (2, 2, 6, 6), strided
    geometry = ((3, 3), (2, 1), (1, 0))
    pooled = (2, 2, 3, 4)
    grad = rng.standard_normal(pooled).astype(dtype)
    grad_dev = cuda.to_device(np.repeat(grad, 2, axis=3))[:, :, :, ::2]  # strided dy
    cases = [("max_forward", [view], [host], pooled),
             ("avg_forward", [view], [host], pooled),
             ("max_backward", [view, grad_dev], [host, grad], host.shape),
             ("avg_backward", [grad_dev], [grad], host.shape)]
    for name, device_arrays, host_arrays, shape in cases:
        for exclude in ((False, True) if name.startswith("avg") else (False,)):
            got = run_kernel(name, device_arrays, shape, geometry, exclude)
            same(got, cpu_reference(name, host_arrays, shape, geometry, exclude))


def test_the_bits_depend_on_neither_the_launch_nor_the_run():
    a = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    a[0, 0, :3, :3] = 0.5  # ties inside overlapping windows
    x = cuda.to_device(a)
    dy = cuda.to_device(rng.standard_normal((1, 2, 5, 5)).astype(np.float32))
    geometry = ((3, 3), (1, 1), (1, 1))
    results = set()
    for launch in ({"threads": 32, "max_blocks": 2}, {"threads": 8, "max_blocks": 1},
                   {"threads": 16, "max_blocks": 4}):
        bits = b"".join(run_kernel(name, arrays, (1, 2, 5, 5), geometry, True,
                                   **launch).tobytes()
                        for name, arrays in (("max_backward", [x, dy]),
                                             ("avg_backward", [dy])))
        results.add(bits)
    assert len(results) == 1


def test_wrong_dtypes_and_ranks_are_refused_naming_them():
    x = cuda.to_device(np.zeros((1, 1, 2, 2), np.int32))
    with pytest.raises(TypeError, match="not int32"):
        pool.max_pool2d_into(x, x, (1, 1), (1, 1), (0, 0))
    y = cuda.to_device(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="4-D"):
        pool.max_pool2d_into(y, y, (1, 1), (1, 1), (0, 0))
