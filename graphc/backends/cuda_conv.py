"""The CUDA backend's convolution kernels (issue 18): the table entries this family adds to
graphc/backends/cuda.py.

``conv2d``, ``conv2d_backward_data`` and ``conv2d_backward_filter`` run as im2col (or
col2im) kernels around one batched matrix product per op
(:mod:`graphc.kernels.cuda.conv`): cuBLAS through CuPy where it can run here, else
graphc's tiled numba kernel (:func:`graphc.backends.cuda.product`). Workspaces are
fresh device arrays per call, allocated on the call's stream; everything is queued on
that stream.

>>> sorted(entries())
['conv2d', 'conv2d_backward_data', 'conv2d_backward_filter']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir import Attrs
from .base import DeviceCall, LibraryKernel
from .cuda import product
from .cuda_device import simulated
from .cuda_memory import empty

# The simulator's launches: few threads, each looping over many elements.
SIMULATOR_LAUNCH = {"threads": 64, "max_blocks": 2}

_OPS = ("conv2d", "conv2d_backward_data", "conv2d_backward_filter")


def _bind(op: str, matmul: Callable) -> Callable:
    function = {"conv2d": "conv2d_forward"}.get(op, op)  # the kernel module's name

    def run(inputs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
        from ..kernels.cuda import conv

        stream = call.stream

        def allocate(shape: tuple, dtype) -> object:
            return empty(tuple(shape), dtype, stream=stream)

        launch = SIMULATOR_LAUNCH if simulated() else {}
        getattr(conv, function)(inputs[0], inputs[1], out, attrs["stride"],
                                attrs["padding"], attrs["dilation"], attrs["groups"],
                                stream, matmul, allocate, **launch)

    return run


def entries() -> dict[str, LibraryKernel]:
    """This family's GPU kernels by op name: im2col/col2im numba kernels around one
    batched product (cuBLAS where usable, else the tiled kernel)."""
    matmul, name = product()
    return {op: LibraryKernel(f"graphc.kernels.cuda.conv.{op} (im2col/col2im + {name})",
                              into=_bind(op, matmul), on_device=True)
            for op in _OPS}
