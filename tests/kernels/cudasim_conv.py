"""GPU convolution (graphc.kernels.cuda.conv through graphc/backends/cuda_conv.py) under
numba's CUDA simulator: ``conv2d`` and its two gradients on ``gpu0`` against the same
graphs on the CPU, and repeated runs bit for bit. Only with ``NUMBA_ENABLE_CUDASIM=1``,
in a pytest process of its own (tests/codegen/test_cuda_sim.py starts it).

The simulator costs about 0.5 ms per simulated thread, so the shapes are tiny
(N=2, C=3, H=W=6, O=4, 3x3 kernels) and the backend launches few threads.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.gpu_gate import require_gpu_or_simulator

require_gpu_or_simulator()

import graphc as gc  # noqa: E402
import graphc.functional as F  # noqa: E402
import graphc.module as M  # noqa: E402
from graphc.autodiff import GradManager  # noqa: E402
from graphc.backends.cuda_memory import is_device_array  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def values(shape: tuple[int, ...], seed: int, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def on(device: str, array: np.ndarray) -> gc.Tensor:
    return gc.tensor(array, dtype=array.dtype, device=device)  # float64 stays float64


# (x shape, w shape, stride, padding, dilation, groups)
CASES = {
    "plain": ((2, 3, 6, 6), (4, 3, 3, 3), 1, 0, 1, 1),
    "stride_padding": ((2, 3, 6, 6), (4, 3, 3, 3), (2, 1), (1, 2), 1, 1),
    "dilation": ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1, 2, 1),
    "groups": ((2, 4, 5, 5), (4, 2, 3, 3), 2, 1, 1, 2),
    "one_image": ((1, 3, 6, 6), (4, 3, 2, 2), 1, 1, 1, 1),
}


def _conv(device: str, case: str, dtype=np.float32):
    xs, ws, stride, padding, dilation, groups = CASES[case]
    x, w = on(device, values(xs, 1, dtype)), on(device, values(ws, 2, dtype))
    y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, w, y


def _forward(device: str, case: str, dtype=np.float32) -> np.ndarray:
    return _conv(device, case, dtype)[2].numpy()


def _gradients(device: str, case: str) -> list[np.ndarray]:
    """The gradients of a weighted sum of the output (the weights make ``dy`` vary)."""
    x, w, y = _conv(device, case)
    r = on(device, values(tuple(y.shape), 3))
    dx, dw = gc.grad((y * r).sum(), [x, w])
    return [dx.numpy(), dw.numpy()]


@pytest.mark.parametrize("case", list(CASES))
def test_forward_matches_the_cpu(case):
    got, want = _forward("gpu0", case), _forward("cpux", case)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", ["plain", "stride_padding", "dilation", "groups"])
def test_both_gradients_match_the_cpu(case):
    for got, want in zip(_gradients("gpu0", case), _gradients("cpux", case)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_a_strided_input_view_and_float64():
    a = values((2, 3, 6, 5), 4, np.float64)
    w = values((2, 3, 3, 3), 5, np.float64)

    def run(device: str) -> np.ndarray:  # the input is a transposed (strided) view
        x = on(device, a).transpose(0, 1, 3, 2)
        return F.conv2d(x, on(device, w), padding=1).numpy()

    got, want = run("gpu0"), run("cpux")
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_float16_computes_in_float32_as_on_the_cpu():
    got, want = _forward("gpu0", "stride_padding", np.float16), \
        _forward("cpux", "stride_padding", np.float16)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32),
                               rtol=1e-3, atol=1e-3)  # one float16 rounding apart at most


def test_repeated_runs_give_the_same_bits():
    first = [_forward("gpu0", "stride_padding"), *_gradients("gpu0", "stride_padding")]
    again = [_forward("gpu0", "stride_padding"), *_gradients("gpu0", "stride_padding")]
    assert all(f.tobytes() == g.tobytes() for f, g in zip(first, again))


def _conv_step(device: str) -> list[np.ndarray]:
    """One GradManager step of a conv layer with bias: the parameters' gradients."""
    gc.random.seed(7)
    layer = M.Conv2d(3, 4, 3, padding=1).to(device)
    params = list(layer.parameters())
    gm = GradManager().attach(params)
    x = on(device, values((2, 3, 5, 5), 6))
    with gm:
        loss = (layer(x) ** 2).mean()
        gm.backward(loss)
    return [loss.numpy(), *(p.grad.numpy() for p in params)]


def test_a_conv_layer_trains_through_grad_manager():
    got, want = _conv_step("gpu0"), _conv_step("cpux")
    for g, c in zip(got, want):
        np.testing.assert_allclose(g, c, rtol=RTOL, atol=ATOL)


def test_outputs_stay_on_the_device():
    _, _, y = _conv("gpu0", "plain")
    assert is_device_array(gc.realize(y) or y._node.buffer)
