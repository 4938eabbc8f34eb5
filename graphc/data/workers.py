"""Worker processes for ``DataLoader(num_workers > 0)``.

Workers start with ``forkserver``: numba's OpenMP layer is not fork-safe, so a worker
forked from a process that has run a parallel kernel could hang; a forkserver child
comes from a clean process. A worker runs only the dataset, the transform and the
collator (NumPy work, no graphc tensors) and sends each batch back pickled; batch ``k``
goes to worker ``k % num_workers`` and the main process yields batches in order. A
worker's exception comes back with its traceback and is raised in the main process;
leaving the loop early (``break``) stops and reaps every worker.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import queue
import signal
import time
import traceback
from collections.abc import Iterator
from typing import Any

from .dataloader import batch_seed, load_batch
from .transform import cv

__all__ = ["WorkerError", "WorkerPool"]

_POLL_SECONDS = 0.2
_JOIN_SECONDS = 1.0


class WorkerError(RuntimeError):
    """A DataLoader worker failed in a way that is not the dataset's own exception."""


def _worker_loop(worker_id: int, dataset: Any, transform: Any, collator: Any,
                 tasks: Any, results: Any, done: Any) -> None:
    """One worker: turn ``(batch number, indices)`` tasks into pickled batches."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    cv.threads_per_process = 1  # OpenCV: one thread per worker, the workers are the parallelism
    while True:
        task = tasks.get()
        if task is None or done.is_set():
            break
        number, indices, seed = task
        try:
            batch = load_batch(dataset.__getitem__, transform, collator, indices, seed)
            payload = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
            results.put((number, payload, None))
        except Exception as error:
            kind = type(error)
            where = (kind.__module__, kind.__qualname__)
            results.put((number, None, (where, str(error), traceback.format_exc(), worker_id,
                                        os.getpid())))
    results.cancel_join_thread()  # unread batches may be dropped once the loop is done


def _reraise(failure: tuple) -> None:
    """Raise a worker's exception in the main process, its traceback in the message."""
    (module, qualname), message, text, worker_id, pid = failure
    report = (f"DataLoader worker {worker_id} (pid {pid}) raised {qualname}: {message}\n"
              f"Traceback in the worker:\n{text}")
    kind: Any = None
    try:
        kind = importlib.import_module(module)
        for part in qualname.split("."):
            kind = getattr(kind, part)
    except (ImportError, AttributeError):
        kind = None
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            error = kind(report)
        except Exception:  # a constructor that wants other arguments
            error = None
        if error is not None:
            raise error
    raise WorkerError(report)


class WorkerPool:
    """``num_workers`` forkserver processes serving one pass over a sampler."""

    def __init__(self, num_workers: int, dataset: Any, transform: Any, collator: Any,
                 timeout: float) -> None:
        ctx = multiprocessing.get_context("forkserver")
        self.timeout = timeout
        self.done = ctx.Event()
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(num_workers)]
        self.processes = [
            ctx.Process(target=_worker_loop, name=f"graphc-data-worker-{i}", daemon=True,
                        args=(i, dataset, transform, collator, self.tasks[i], self.results,
                              self.done))
            for i in range(num_workers)]
        try:
            for process in self.processes:
                process.start()
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            self.close()
            raise TypeError(f"DataLoader: num_workers > 0 sends the dataset, transform and "
                            f"collator to the worker processes by pickling, and one of them "
                            f"cannot be pickled ({error}); define their classes at module "
                            f"level, or use num_workers=0") from error
        except BaseException:
            self.close()
            raise

    def run(self, batches: Iterator[list[int]], pass_seed: int) -> Iterator[Any]:
        """The collated batches for ``batches`` of indices, in order (batch ``k``'s
        transforms draw from the stream ``batch_seed(pass_seed, k)``)."""
        n = len(self.processes)
        sent = received = 0
        ready: dict[int, Any] = {}
        exhausted = False
        while True:
            while not exhausted and sent - received < 2 * n:  # two batches in flight each
                indices = next(batches, None)
                if indices is None:
                    exhausted = True
                    break
                self.tasks[sent % n].put((sent, list(indices), batch_seed(pass_seed, sent)))
                sent += 1
            if received == sent:
                return
            while received not in ready:
                number, payload, failure = self._next_result(received)
                if failure is not None:
                    _reraise(failure)
                ready[number] = payload
            yield pickle.loads(ready.pop(received))
            received += 1

    def _next_result(self, waiting_for: int) -> tuple:
        start = time.monotonic()
        while True:
            try:
                return self.results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                pass
            for i, process in enumerate(self.processes):
                if process.exitcode is not None:
                    raise WorkerError(f"DataLoader worker {i} (pid {process.pid}) exited "
                                      f"unexpectedly with code {process.exitcode} while "
                                      f"batch {waiting_for} was pending")
            if self.timeout > 0 and time.monotonic() - start > self.timeout:
                raise WorkerError(f"DataLoader: no batch from the workers within timeout="
                                  f"{self.timeout}s (waiting for batch {waiting_for}); raise "
                                  f"timeout, or make the dataset's __getitem__ faster")

    def close(self) -> None:
        """Stop every worker and reap it (terminate those that do not stop in time)."""
        self.done.set()
        for tasks, process in zip(self.tasks, self.processes):
            if process.pid is not None and process.exitcode is None:
                try:
                    tasks.put(None)
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + _JOIN_SECONDS
        for process in self.processes:
            if process.pid is None:
                continue
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.terminate()
                process.join()
        for q in [*self.tasks, self.results]:
            q.cancel_join_thread()
            q.close()
