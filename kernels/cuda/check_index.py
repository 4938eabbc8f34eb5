"""The GPU bounds check of class labels (the ``check_index`` op): copies the labels and
records the first label out of range in a device error word, since a kernel cannot
raise. The runtime reads the word where results are read and raises there, naming the
op and the user's line (graphc/runtime/cuda_errors.py).

The word holds ``n - i`` for the first bad position ``i`` of ``n`` labels (0: none): an
atomic max over ``n - i`` keeps the smallest ``i`` whatever the threads' order, so the
report is the same on every run. The labels themselves are copied as they are.
"""

from __future__ import annotations

import functools

from numba import cuda  # this module is imported only where the GPU backend runs

THREADS = 256
MAX_BLOCKS = 1024


@functools.cache
def _kernel():
    # (The kernel reads the module's global ``cuda``: the simulator swaps that name.)
    @cuda.jit
    def check(labels, size, out, error):
        i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        stride = cuda.gridDim.x * cuda.blockDim.x
        n = labels.shape[0]
        while i < n:
            v = labels[i]
            out[i] = v
            if v < 0 or v >= size:
                cuda.atomic.max(error, 0, n - i)
            i += stride

    return check


def check_labels_into(labels, size: int, out, error, stream=0, threads: int = THREADS,
                      max_blocks: int = MAX_BLOCKS) -> None:
    """Copy ``labels`` (a C-contiguous integer device array) into ``out`` and record the
    first label outside ``[0, size)`` in ``error`` (an int64 device array of one element,
    zero until a bad label is met): ``error[0] = labels.size - position``."""
    n = labels.size
    if n == 0:
        return
    flat_labels, flat_out = labels.reshape(n), out.reshape(n)
    blocks = max(1, min(max_blocks, -(-n // threads)))
    _kernel()[blocks, threads, stream](flat_labels, size, flat_out, error)


def first_bad_position(word: int, n: int) -> int | None:
    """The position of the first bad label from the error word's value (None if none).

    >>> first_bad_position(0, 5), first_bad_position(3, 5)
    (None, 2)
    """
    return None if word == 0 else n - word
