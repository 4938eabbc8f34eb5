"""The CUDA backend's pooling kernels (issue 18): the table entries this family adds to
graphc/backends/cuda.py, one numba.cuda kernel per op (:mod:`graphc.kernels.cuda.pool`),
each launched on the call's stream.

- ``max_pool2d``, ``max_pool2d_select``, ``avg_pool2d``: one thread per output element;
- ``max_pool2d_backward``, ``avg_pool2d_backward``: one thread per input pixel, gathering
  the windows that contain it in the CPU's order (no atomics: the same bits every run,
  and the CPU's bits, ties in a max going to the same element).

Inputs may be device views (any strides); float16 computes in float32. Under the
simulator launches are small (it costs about 0.5 ms per simulated thread).

>>> sorted(entries())
['avg_pool2d', 'avg_pool2d_backward', 'max_pool2d', 'max_pool2d_backward', 'max_pool2d_select']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..ir import Attrs
from .base import DeviceCall, LibraryKernel
from .cuda_device import simulated

# Simulated threads are Python threads: two blocks of 32 keep the tests quick.
SIMULATOR_LAUNCH = {"threads": 32, "max_blocks": 2}


def _geometry(attrs: Attrs) -> tuple:
    return tuple(attrs["kernel"]), tuple(attrs["stride"]), tuple(attrs["padding"])


def _exclude_padding(attrs: Attrs) -> bool:
    return attrs["mode"] != "average"


def _launch() -> dict[str, int]:
    return dict(SIMULATOR_LAUNCH) if simulated() else {}


def _max_pool(xs: Sequence, attrs: Attrs, out: Any, call: DeviceCall) -> None:
    from ..kernels.cuda import pool  # numba.cuda: imported where the GPU backend runs

    pool.max_pool2d_into(xs[0], out, *_geometry(attrs), call.stream, **_launch())


def _max_backward(xs: Sequence, attrs: Attrs, out: Any, call: DeviceCall) -> None:
    from ..kernels.cuda import pool

    pool.max_pool2d_backward_into(xs[0], xs[1], out, *_geometry(attrs), call.stream,
                                  **_launch())


def _max_select(xs: Sequence, attrs: Attrs, out: Any, call: DeviceCall) -> None:
    from ..kernels.cuda import pool

    pool.max_pool2d_select_into(xs[0], xs[1], out, *_geometry(attrs), call.stream,
                                **_launch())


def _avg_pool(xs: Sequence, attrs: Attrs, out: Any, call: DeviceCall) -> None:
    from ..kernels.cuda import pool

    pool.avg_pool2d_into(xs[0], out, *_geometry(attrs), _exclude_padding(attrs),
                         call.stream, **_launch())


def _avg_backward(xs: Sequence, attrs: Attrs, out: Any, call: DeviceCall) -> None:
    from ..kernels.cuda import pool

    pool.avg_pool2d_backward_into(xs[0], out, *_geometry(attrs), _exclude_padding(attrs),
                                  call.stream, **_launch())


def _entry(function: str, into: Callable) -> LibraryKernel:
    return LibraryKernel(f"graphc.kernels.cuda.pool.{function}", into=into, on_device=True)


def entries() -> dict[str, LibraryKernel]:
    """This family's GPU kernels by op name."""
    return {
        "max_pool2d": _entry("max_pool2d_into", _max_pool),
        "max_pool2d_backward": _entry("max_pool2d_backward_into (gather)", _max_backward),
        "max_pool2d_select": _entry("max_pool2d_select_into", _max_select),
        "avg_pool2d": _entry("avg_pool2d_into", _avg_pool),
        "avg_pool2d_backward": _entry("avg_pool2d_backward_into (gather)", _avg_backward),
    }
