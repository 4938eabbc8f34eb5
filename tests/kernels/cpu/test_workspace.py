"""graphc.kernels.cpu.workspace: scratch arrays reused per request, bounded, per thread."""

import threading

import numpy as np
from graphc.kernels.cpu import workspace


def test_same_request_same_array_and_the_pool_is_bounded():
    a = workspace.scratch("t", (3, 4), np.float32)
    assert workspace.scratch("t", (3, 4), np.float32) is a
    assert workspace.scratch("t", (3, 4), np.float64) is not a
    assert workspace.scratch("u", (3, 4), np.float32) is not a
    for k in range(workspace.LIMIT + 1):
        workspace.scratch("fill", (k + 1,), np.float32)
    assert workspace.scratch("t", (3, 4), np.float32) is not a  # evicted: least recent
    assert len(workspace._local.pool) <= workspace.LIMIT


def test_threads_get_their_own_arrays():
    mine = workspace.scratch("thread", (8,), np.float32)
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(
        workspace.scratch("thread", (8,), np.float32)))
    worker.start()
    worker.join()
    assert theirs[0] is not mine and theirs[0].shape == (8,)
