"""The CUDA backend's indexing and concatenation kernels (issue 18): the table entries
this family adds to graphc/backends/cuda.py.

Each op's kernel is in :mod:`graphc.kernels.cuda.indexing` (``index``, ``setitem``,
``scatter_add``) or :mod:`graphc.kernels.cuda.gather` (``gather``, ``scatter_add_axis``,
``concat``), launched on the call's stream. Every op that reads an index from data
checks it on the device: a bad index records its position in the step's error word and
the call keeps the op's inputs, from which the runtime words the CPU's error where a
result is read (graphc/runtime/cuda_errors.py).

>>> sorted(entries())
['concat', 'gather', 'index', 'scatter_add', 'scatter_add_axis', 'setitem']
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Attrs
from .base import DeviceCall, LibraryKernel
from .cuda_device import simulated

# The simulator runs each thread as a Python thread (about 0.5 ms each): small launches.
SIMULATOR_LAUNCH = {"threads": 16, "max_blocks": 2}


def _launch() -> dict[str, int]:
    return dict(SIMULATOR_LAUNCH) if simulated() else {}


def _index(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
    from ..kernels.cuda.indexing import index_into

    x, *arrays = xs
    index_into(x, arrays, attrs["spec"], out, call.error_word, call.stream, **_launch())
    call.keep(*xs)  # the reference words a bad index from these


def _writer(accumulate: bool):
    def write(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
        from ..kernels.cuda.indexing import setitem_into

        x, value, *arrays = xs
        setitem_into(x, value, arrays, attrs["spec"], out, call.error_word, call.stream,
                     accumulate=accumulate, **_launch())
        call.keep(*xs)

    return write


def _gather(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
    from ..kernels.cuda.gather import gather_into

    x, index = xs
    gather_into(x, index, attrs["axis"], out, call.error_word, call.stream, **_launch())
    call.keep(*xs)


def _scatter_add_axis(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
    from ..kernels.cuda.gather import scatter_add_axis_into

    x, index, value = xs
    scatter_add_axis_into(x, index, value, attrs["axis"], out, call.error_word,
                          call.stream, **_launch())
    call.keep(*xs)


def _concat(xs: Sequence, attrs: Attrs, out, call: DeviceCall) -> None:
    from ..kernels.cuda.gather import concat_into

    concat_into(xs, attrs["axis"], out, call.stream, **_launch())


def entries() -> dict[str, LibraryKernel]:
    """This family's GPU kernels by op name."""
    checked = "(bounds-checked: device error word)"
    return {
        "index": LibraryKernel(f"graphc.kernels.cuda.indexing.index_into {checked}",
                               into=_index, on_device=True, checks=True),
        "setitem": LibraryKernel(f"graphc.kernels.cuda.indexing.setitem_into {checked}",
                                 into=_writer(False), on_device=True, checks=True),
        "scatter_add": LibraryKernel("graphc.kernels.cuda.indexing.setitem_into "
                                     f"(accumulating in order) {checked}",
                                     into=_writer(True), on_device=True, checks=True),
        "gather": LibraryKernel(f"graphc.kernels.cuda.gather.gather_into {checked}",
                                into=_gather, on_device=True, checks=True),
        "scatter_add_axis": LibraryKernel("graphc.kernels.cuda.gather.scatter_add_axis_into "
                                          f"(accumulating in order) {checked}",
                                          into=_scatter_add_axis, on_device=True,
                                          checks=True),
        "concat": LibraryKernel("graphc.kernels.cuda.gather.concat_into",
                                into=_concat, on_device=True),
    }
