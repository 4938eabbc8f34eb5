"""DataLoader worker processes: ordered batches, the same augmentations as without
workers, a worker's exception with its traceback, timeout, and no worker left after an
early ``break``. Each test starts forkserver workers (about a second), so they are few."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import graphc
import graphc.data.transform as T
import graphc.functional as F
from graphc.data import ArrayDataset, DataLoader, Dataset, SequentialSampler
from graphc.runtime import threads


class PidDataset(Dataset):
    """Item i is (i, the pid of the process that loaded it)."""

    def __getitem__(self, i):
        return np.int64(i), np.int64(os.getpid())

    def __len__(self):
        return 40


class FailingDataset(Dataset):
    def __getitem__(self, i):
        if i == 5:
            raise KeyError(f"no item {i} in this test dataset")
        return np.float32(i)

    def __len__(self):
        return 8


class SlowDataset(Dataset):
    def __getitem__(self, i):
        time.sleep(30)
        return np.float32(i)

    def __len__(self):
        return 4


def _gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":  # a zombie: exited but nobody reaped it yet
            pass
        time.sleep(0.05)
    return False


def test_workers_after_a_parallel_kernel_give_ordered_batches_and_stop_on_break(
        monkeypatch) -> None:
    # A parallel compiled kernel first: numba's threads are running in this process,
    # which a fork would copy in a broken state (forkserver does not fork this process).
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    n = 1 << 21  # past PARALLEL_MIN_ELEMENTS: a prange kernel
    x = graphc.tensor(np.arange(n, dtype=np.float32))
    np.testing.assert_allclose(F.exp(x * 1e-6).numpy(), np.exp(np.arange(n) * 1e-6),
                               rtol=1e-5)
    assert threads._numba_threads_started()
    ds = PidDataset()
    loader = DataLoader(ds, SequentialSampler(ds, batch_size=3), num_workers=2)
    pids = set()
    for k, (indices, batch_pids) in enumerate(loader):
        np.testing.assert_array_equal(indices, np.arange(3 * k, min(3 * k + 3, 40)))
        pids.update(batch_pids.tolist())
        if k == 6:
            break  # early: the loader must stop and reap its workers
    assert len(pids) == 2 and os.getpid() not in pids
    for pid in pids:
        assert _gone(pid), f"worker {pid} still exists after break"
    # A full pass gives exactly the batches the main process gives.
    full = [b[0].tolist() for b in loader]
    assert full == [b[0].tolist() for b in DataLoader(ds, SequentialSampler(ds, 3))]


def test_random_transforms_draw_the_same_with_and_without_workers() -> None:
    images = np.random.default_rng(0).integers(0, 256, (12, 6, 6, 3), dtype=np.uint8)
    ds = ArrayDataset(images, np.arange(12))
    transform = T.Compose([T.RandomCrop(4), T.RandomHorizontalFlip(), T.ToMode("CHW")])

    def epoch(workers: int) -> list[np.ndarray]:
        graphc.random.seed(11)
        loader = DataLoader(ds, SequentialSampler(ds, batch_size=5), transform,
                            num_workers=workers)
        return [x for x, _ in loader]

    serial, parallel = epoch(0), epoch(2)
    assert [b.shape for b in serial] == [(5, 3, 4, 4), (5, 3, 4, 4), (2, 3, 4, 4)]
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def test_worker_exception_is_raised_with_its_traceback() -> None:
    loader = DataLoader(FailingDataset(), SequentialSampler(FailingDataset(), 2),
                        num_workers=2)
    with pytest.raises(KeyError) as info:
        list(loader)
    message = str(info.value)
    assert "no item 5 in this test dataset" in message
    assert "Traceback in the worker" in message and "in __getitem__" in message


def test_timeout_is_honoured() -> None:
    loader = DataLoader(SlowDataset(), SequentialSampler(SlowDataset(), 2), num_workers=1,
                        timeout=1)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="timeout=1.0s"):
        next(iter(loader))
    assert time.monotonic() - start < 15  # the slow worker was stopped, not waited for


def test_an_unpicklable_dataset_is_a_clear_error() -> None:
    class Local(Dataset):  # a class inside a function cannot be pickled
        def __getitem__(self, i):
            return np.float32(i)

        def __len__(self):
            return 2

    with pytest.raises(TypeError, match="cannot be pickled.*num_workers=0"):
        next(iter(DataLoader(Local(), num_workers=1)))
