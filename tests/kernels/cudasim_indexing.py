"""GPU indexing (graphc.kernels.cuda.indexing and .gather through
graphc/backends/cuda_indexing.py) under numba's CUDA simulator: only with
``NUMBA_ENABLE_CUDASIM=1``, in a pytest process of its own (tests/codegen/test_cuda_sim.py
starts it; the name keeps the main suite from collecting this module).

Graphs on ``gpu0`` (the simulator as the device) against the same graphs on ``cpux``,
whose indexing ops run their NumPy references: basic and advanced indexing, setitem,
scatter_add with repeated indices (the CPU's bits: no atomics), gather and
scatter_add_axis along every axis, concat of strided views, gradients through all of
them, label picking and embeddings, in float32, float16, float64 and int32; a bad index
reported where the result is read, in the CPU's words; then the kernels alone on strided
device views, against NumPy, and the same bits across runs and launch shapes. The
simulator costs about 0.5 ms per simulated thread: shapes are tiny and each graph
computes several results at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.gpu_gate import require_gpu_or_simulator

require_gpu_or_simulator()

from graphc.kernels.cuda import gather, indexing  # noqa: E402
from numba import cuda  # noqa: E402

import graphc as gc  # noqa: E402
import graphc.functional as F  # noqa: E402
from graphc.backends.cuda_memory import is_device_array  # noqa: E402
from graphc.ir import OpError  # noqa: E402

DTYPES = [np.float32, np.float16, np.float64, np.int32]
FLOATS = [np.float32, np.float16, np.float64]
IDX = np.array([[0, 3], [-1, 2]], np.int32)  # 2-D, a negative index
ROW = np.array([2, -1, 0], np.int64)


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def on(device: str, array: np.ndarray) -> gc.Tensor:
    return gc.tensor(array, dtype=array.dtype, device=device)  # float64 stays float64


def values(shape: tuple[int, ...], seed: int, dtype) -> np.ndarray:
    """Random values, integers for int32 (scaled so that sums are not all small)."""
    a = np.random.default_rng(seed).standard_normal(shape) * (10 if dtype == np.int32 else 1)
    return a.astype(dtype)


def same(gpu: np.ndarray, cpu: np.ndarray) -> None:
    """Equal dtype, shape and bits."""
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape
    assert gpu.tobytes() == cpu.tobytes(), (gpu, cpu)


def both(build) -> list[np.ndarray]:
    """``build(device)``'s tensors computed on gpu0 (checked to be device arrays) and on
    cpux, compared bit for bit; the GPU's results."""
    results = {}
    for device in ("gpu0", "cpux"):
        outs = build(device)
        gc.realize(*outs)
        if device == "gpu0":
            assert all(is_device_array(t._node.buffer) for t in outs)
        results[device] = [t.numpy() for t in outs]
    for g, c in zip(results["gpu0"], results["cpux"]):
        same(g, c)
    return results["gpu0"]


# ---- index -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_basic_and_advanced_indexing_match_the_cpu(dtype):
    a = values((4, 5, 3), 1, dtype)
    mask = np.array([True, False, True, True, False])

    def build(device: str) -> list[gc.Tensor]:
        x = on(device, a)
        held = on(device, ROW)  # an index held on the device: checked when it runs
        return [x[IDX],  # 2-D array, negative value
                x[1:4:2, IDX],  # a slice, then arrays (together: in place)
                x[IDX, ::-2, ROW[:2]],  # arrays apart: their dimensions first
                x[:, held, 1],  # an integer among arrays
                x[2, :, [0, -1]],  # an integer and an array apart
                x[None, ..., ROW],  # a new axis and an ellipsis
                x[held[:, None], [1, 4]],  # arrays broadcast (3, 1) with (2,)
                x[:, mask],  # a mask: its positions as integer arrays
                x[np.array(-1), 0, np.array(2)],  # 0-d result
                x[on(device, np.array(-2, np.int32)), held],  # a 0-d index tensor
                x[[], 1:3]]  # empty

    both(build)


# ---- setitem and scatter_add -------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem_matches_the_cpu(dtype):
    a = values((4, 5), 2, dtype)
    v = values((6, 5), 3, dtype)
    repeated = np.array([0, 3, 0, -1, 3, 0], np.int32)  # the last write wins

    def build(device: str) -> list[gc.Tensor]:
        z, w, u, s = (on(device, a) for _ in range(4))
        z[repeated] = on(device, v)
        w[[1, 2], 1:4] = on(device, v[0, :3])  # a row broadcast to the region
        u[on(device, ROW), -1] = 7  # a Python number broadcast
        s[1:3, ::2] = on(device, v[:2, :3])  # slices only: no index arrays
        return [z, w, u, s]

    both(build)


@pytest.mark.parametrize("dtype", FLOATS)
def test_scatter_add_with_repeated_indices_gives_the_cpus_bits(dtype):
    a = values((4, 5), 4, dtype)
    repeated = np.array([[0, 3, 0, 0], [3, -4, 1, 0]], np.int32)
    r = values((2, 4, 5), 5, dtype) * np.asarray(1000, dtype)  # rounding shows the order
    r[0, 1, :] = -r[0, 0, :]  # big, then its negative: order-sensitive sums
    r2 = values((4, 2, 2), 6, dtype)

    def build(device: str) -> list[gc.Tensor]:
        x = on(device, a)
        return [gc.grad((x[repeated] * on(device, r)).sum(), x),  # scatter_add
                gc.grad((x[repeated[0], 1:3] * on(device, r[0, :, :2])).sum(), x),
                gc.grad((x[:, repeated[:, :2]] * on(device, r2)).sum(), x)]

    grads = both(build)
    # The sums are np.add.at's, in its order (the CPU runs exactly that).
    want = np.zeros_like(a)
    np.add.at(want, repeated, r)
    same(grads[0], want)


def test_gradients_through_indexing_and_setitem_match_the_cpu():
    a = values((4, 5), 7, np.float32)
    v = values((4, 5), 8, np.float32)
    r = values((3, 5), 9, np.float32)

    def build(device: str) -> list[gc.Tensor]:
        x, value = on(device, a), on(device, v)
        y = x * 1.0  # setitem on a copy
        y[[1, 3, 1, 0]] = value  # repeated: only the value row that stays gets a gradient
        loss = (y * y).sum()
        picked = (x[ROW] * on(device, r)).sum() * 2  # a Python scalar in the graph
        return [*gc.grad(loss, [x, value]), gc.grad(picked, x)]

    both(build)


def test_label_picking_and_embeddings_match_the_cpu():
    logits = values((4, 5), 10, np.float32)
    labels = np.array([3, 0, 4, 3], np.int32)
    weight = values((6, 3), 11, np.float32)
    words = np.array([[5, 0, 5], [1, 5, 2]], np.int32)
    r = values((4,), 12, np.float32)

    def build(device: str) -> list[gc.Tensor]:
        x, y, w = on(device, logits), on(device, labels), on(device, weight)
        picked = x[F.arange(4, dtype=np.int32, device=device), y]
        emb = F.embedding(on(device, words), w)
        return [picked, gc.grad((picked * on(device, r)).sum(), x), emb,
                gc.grad((emb * emb).sum(), w)]

    both(build)

    def loss(device: str) -> list[np.ndarray]:
        """Cross entropy by picking log-probabilities (softmax itself is not bit-exact
        between the devices: compared with a tolerance), and the library's own."""
        x, y = on(device, logits), on(device, labels)
        picked = -F.logsoftmax(x, axis=1)[F.arange(4, dtype=np.int32, device=device), y]
        outs = [picked.mean(), gc.grad(picked.mean(), x), F.nn.cross_entropy(x, y)]
        gc.realize(*outs)
        return [t.numpy() for t in outs]

    gpu, cpu = loss("gpu0"), loss("cpux")
    for g, c in zip(gpu, cpu):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gpu[0], gpu[2], rtol=1e-6)


# ---- gather and scatter_add_axis ---------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_and_its_gradient_along_each_axis_match_the_cpu(dtype):
    a = values((3, 4, 2), 12, dtype)
    rng = np.random.default_rng(13)
    # Per axis, an index of repeated values, smaller than x on another axis.
    index = {0: rng.integers(0, 3, (4, 3, 2)), 1: rng.integers(0, 4, (2, 5, 2)),
             2: rng.integers(0, 2, (3, 4, 3))}
    # Weights of mixed magnitudes: sums of several of them round differently by order.
    r = {axis: values(i.shape, 14 + axis, dtype)
         * (10.0 ** rng.integers(-3, 4, i.shape)).astype(dtype) for axis, i in index.items()}

    def build(device: str) -> list[gc.Tensor]:
        x = on(device, a)
        outs = []
        for axis, i in index.items():
            g = F.gather(x, axis, on(device, i.astype(np.int32 if axis else np.int64)))
            outs.append(g)
            if dtype != np.int32:  # scatter_add_axis, repeated indices
                outs.append(gc.grad((g * on(device, r[axis])).sum(), x))
        return outs

    both(build)


# ---- concat ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_of_strided_views_along_each_axis_matches_the_cpu(dtype):
    a = values((4, 6, 3), 16, dtype)

    def build(device: str) -> list[gc.Tensor]:
        x = on(device, a)
        t = x.transpose(1, 0, 2)  # (6, 4, 3)
        return [F.concat([x[:, ::2], x[::-1, 1:4]], axis=1),
                F.concat([x[1:3], t[:, 1:3].transpose(1, 0, 2), x[:1, :, ::-1]], axis=0),
                F.concat([x[..., :1], x[:, :, ::2], t.transpose(1, 0, 2)], axis=2),
                F.stack([x[0], x[2], t[:, 1]], axis=1)]

    both(build)


# ---- errors and determinism --------------------------------------------------------

def _bad_index_errors(device: str) -> list[tuple[str, str]]:
    """The message and the building line of a bad index to ``index``, ``gather`` and
    ``setitem``, each raised when its result is read."""
    x = on(device, np.arange(10, dtype=np.float32).reshape(5, 2))
    bad = on(device, np.array([1, 7, -9], np.int32))  # 7 is the first bad one
    picked = x[bad] * 2  # the line the error names
    gathered = F.gather(x, 0, on(device, np.array([[0, 1], [5, 0]], np.int32)))
    written = x * 1.0
    written[bad] = 0
    found = []
    for t in (picked, gathered, written):
        with pytest.raises(OpError) as info:
            t.numpy()
        found.append((str(info.value), t._node.meta.location))
    return found


def test_a_bad_index_is_reported_where_the_result_is_read_in_the_cpus_words():
    gpu, cpu = _bad_index_errors("gpu0"), _bad_index_errors("cpux")
    assert gpu == cpu  # the CPU's words, the same lines
    for (message, line), op in zip(gpu, ("index", "gather", "setitem")):
        assert message.startswith(f"{op}: index ") and "out of bounds" in message
        assert line in message
    assert "index 7 is out of bounds for axis 0 with size 5" in gpu[0][0]
    x = on("gpu0", np.arange(10, dtype=np.float32).reshape(5, 2))
    good = x[on("gpu0", np.array([4, -1], np.int32))]
    assert good.numpy().tolist() == [[8.0, 9.0], [8.0, 9.0]]  # the error was cleared


def test_repeated_runs_give_the_same_bits():
    a = values((4, 5), 17, np.float32)
    r = values((3, 8, 5), 18, np.float32) * np.float32(1e4)
    idx = np.random.default_rng(19).integers(-4, 4, (3, 8)).astype(np.int32)
    x = on("gpu0", a)

    def run() -> list[bytes]:
        outs = [gc.grad((x[idx] * on("gpu0", r)).sum(), x),
                gc.grad((F.gather(x, 0, on("gpu0", idx % 4)[:, :5]) ** 2).sum(), x)]
        gc.realize(*outs)
        return [t.numpy().tobytes() for t in outs]

    first = run()
    assert run() == first and run() == first


# ---- the kernels alone -------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16])
def test_the_kernels_on_strided_views_match_numpy(dtype):
    base = values((4, 10, 3), 20, dtype)
    host = base[:, ::2]  # (4, 5, 3), strided
    x = cuda.to_device(base)[:, ::2]
    positions = np.array([[-2, 9, 0, 9, -2, 9]], np.int64)  # [::2]: -2, 0, -2 (repeated)
    idx_host, idx = positions[:, ::2], cuda.to_device(positions)[:, ::2]  # (1, 3), strided
    spec = (("a", 0), ("s", 4, 0, -2), ("i", 1))  # apart: (1, 3) first, then 2
    region = host[idx_host, 4:0:-2, 1].shape
    value_host = values((1, 3, 4), 21, dtype)[..., ::2]  # (1, 3, 2), strided
    value = cuda.to_device(values((1, 3, 4), 21, dtype))[..., ::2]
    error = cuda.to_device(np.zeros(1, np.int64))
    launch = {"threads": 4, "max_blocks": 2}

    out = cuda.device_array(region, dtype)
    indexing.index_into(x, [idx], spec, out, error, **launch)
    same(out.copy_to_host(), host[idx_host, 4:0:-2, 1])

    for accumulate in (False, True):
        out = cuda.device_array(host.shape, dtype)
        indexing.setitem_into(x, value, [idx], spec, out, error, accumulate=accumulate,
                              **launch)
        want = host.copy()
        if accumulate:
            np.add.at(want, (idx_host, slice(4, 0, -2), 1), value_host)
        else:
            want[idx_host, 4:0:-2, 1] = value_host
        same(out.copy_to_host(), want)

    gidx_host = np.array([[[1, 0], [0, 0]], [[2, 2], [1, 0]]], np.int32)  # (2, 2, 2)
    gidx = cuda.to_device(gidx_host)
    out = cuda.device_array((2, 2, 2), dtype)
    gather.gather_into(x, gidx, 2, out, error, **launch)
    same(out.copy_to_host(), np.take_along_axis(host[:2, :2], gidx_host, axis=2))

    g = values((2, 2, 2), 22, dtype)
    out = cuda.device_array(host.shape, dtype)
    gather.scatter_add_axis_into(x, gidx, cuda.to_device(g), 2, out, error, **launch)
    want = host.copy()
    grid = list(np.indices(gidx_host.shape, sparse=True))
    grid[2] = gidx_host
    np.add.at(want, tuple(grid), g)
    same(out.copy_to_host(), want)
    assert error.copy_to_host()[0] == 0  # no bad index: the word stays clear

    out = cuda.device_array((4, 8, 3), dtype)
    gather.concat_into([x, x[:, 1:4, ::-1]], 1, out, **launch)
    same(out.copy_to_host(), np.concatenate([host, host[:, 1:4, ::-1]], axis=1))


def test_the_error_word_holds_the_first_bad_element_whatever_the_launch():
    x = cuda.to_device(np.arange(6, dtype=np.float32))
    idx = cuda.to_device(np.array([0, 9, 2, -7, 6, 1], np.int32))  # bad: 1, 3, 4
    words = set()
    for launch in ({"threads": 1, "max_blocks": 1}, {"threads": 2, "max_blocks": 3},
                   {"threads": 8, "max_blocks": 1}):
        error = cuda.to_device(np.zeros(1, np.int64))
        out = cuda.device_array(6, np.float32)
        indexing.index_into(x, [idx], (("a", 0),), out, error, **launch)
        words.add(int(error.copy_to_host()[0]))
        assert out.copy_to_host().tolist() == [0, 0, 2, 0, 0, 1]  # bad ones read as 0
    assert words == {6 - 1}  # n - the first bad position


def test_the_bits_depend_on_neither_the_launch_nor_the_run():
    x = cuda.to_device(np.zeros((3, 4), np.float32))
    idx = cuda.to_device(np.random.default_rng(23).integers(0, 3, 7).astype(np.int32))
    v = cuda.to_device(values((7, 4), 24, np.float32) * np.float32(1e5))
    error = cuda.to_device(np.zeros(1, np.int64))
    results = set()
    for launch in ({"threads": 1, "max_blocks": 1}, {"threads": 2, "max_blocks": 2},
                   {"threads": 8, "max_blocks": 1}, {"threads": 4, "max_blocks": 4}):
        out = cuda.device_array((3, 4), np.float32)
        indexing.setitem_into(x, v, [idx], (("a", 0), ("s", 0, 4, 1)), out, error,
                              accumulate=True, **launch)
        results.add(out.copy_to_host().tobytes())
    assert len(results) == 1
