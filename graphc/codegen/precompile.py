"""Compile a Program's kernels in a second process while this one compiles them too.

numba compiles a kernel at its first call, one after another, on one core, holding its
compiler lock. A cold training step has several kernels (six for the MLP step, about
0.1 to 1.2 s each), and the machine a second core. When a Program first runs with at
least :data:`MIN_KERNELS` kernels missing from numba's cache, graphc predicts each
kernel's argument types (graphc/runtime/kernel_calls.py) and starts a helper process
with the list, longest source first. Both processes walk the list and take each kernel
the other has not: this one says ``claim <index>`` on the helper's stdin before
compiling one with ``dispatcher.compile``; the helper says ``start <index>`` and
``done <index>`` on its stdout and writes its kernels into numba's on-disk cache (the
same one this process reads). This process then waits for the kernels the helper
started, stops it, and runs: every kernel is compiled in memory or loads from the cache.

Nothing depends on the helper: a kernel it did not finish (or whose argument types were
predicted wrong, or a helper that failed to start) compiles at its call as always, and a
helper still running when this process exits is stopped. The helper saves through the
same verified cache as this process (graphc.codegen.numba_cache): each file it writes is
recorded with its digest, and this process checks that digest before numba loads the
file, as for any entry. Cache writes on both sides are atomic.

``GRAPHC_PARALLEL_COMPILE=0`` turns this off; it is off on one-core machines and under
``NUMBA_DISABLE_JIT``. The test suite turns it off (its workers use the cores already)
except in tests/codegen/test_precompile.py.

>>> enabled() in (True, False)
True
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MIN_KERNELS = 3  # fewer missing kernels than this are not worth a process start

_helpers: list[Helper] = []

# The helper needs only graphc.codegen: it registers the package without running
# graphc/__init__.py (the whole front end, 0.5 s of imports), so it starts compiling
# that much sooner. Kernel modules import graphc.codegen.mathlib, nothing else of graphc.
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_HELPER = ("import sys, types; package = types.ModuleType('graphc'); "
           "package.__path__ = [sys.argv[1]]; sys.modules['graphc'] = package; "
           "from graphc.codegen.precompile import main; main()")


def enabled() -> bool:
    """Whether Programs may start a helper process to compile kernels."""
    return (os.environ.get("GRAPHC_PARALLEL_COMPILE", "1") != "0"
            and (os.cpu_count() or 1) >= 2
            and os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0"))


def is_cached(dispatcher: Any) -> bool:
    """Whether graphc's cache already holds an entry for this kernel (any signature), or
    a helper could not hand one over (no disk cache, or one graphc may not use)."""
    is_saved = getattr(getattr(dispatcher, "_cache", None), "is_saved", None)
    return True if is_saved is None else is_saved()


class Helper:
    """A helper process and what it reports: each job's index as it starts and as it is
    done (a line each on its stdout, read by a thread). Jobs this process claims (by
    writing ``claim <index>`` to the helper's stdin) are skipped by the helper."""

    def __init__(self, process: subprocess.Popen,
                 report: Callable[[int, str], None] | None = None) -> None:
        self.process = process
        self.report = report
        self.state: dict[int, str] = {}
        self.claimed: set[int] = set()
        self.exited = False
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            what, _, index = line.decode(errors="replace").partition(" ")
            if what in ("start", "done") and index.strip().isdigit():
                with self.changed:  # reported before a waiting run can go on
                    self.state[int(index)] = what
                    if self.report is not None:
                        self.report(int(index), what)
                    self.changed.notify_all()
        with self.changed:
            self.exited = True
            self.changed.notify_all()

    def claim(self, job: int) -> bool:
        """Take ``job`` for this process unless the helper has started it."""
        with self.changed:
            if job in self.state:
                return False
            self.claimed.add(job)
            try:
                self.process.stdin.write(f"claim {job}\n".encode())
                self.process.stdin.flush()
            except OSError:  # the helper is gone: everything is ours
                pass
            return True

    def wait(self, jobs: Sequence[int], timeout: float = 60.0) -> None:
        """Wait until the helper is done with every one of ``jobs`` not claimed here."""
        with self.changed:
            self.changed.wait_for(lambda: self.exited or all(
                j in self.claimed or self.state.get(j) == "done" for j in jobs), timeout)

    def stop(self) -> None:
        """Stop the helper (whatever it has not done is compiled here)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self in _helpers:
            _helpers.remove(self)


def compile_in_parallel(jobs: Sequence[tuple[Any, str, tuple]], share: bool = True,
                        report: Callable[[int, str], None] | None = None) -> bool:
    """Compile ``(dispatcher, kernel source, argument types)`` jobs on two processes.

    Both take jobs in the order given (put the longest first) until none is left: this
    process compiles its own with ``dispatcher.compile``; a helper process compiles the
    others into numba's cache, where this process's first call of each finds it.
    ``share=False`` leaves every job to the helper (tests use it). ``report(index,
    "start" | "done")`` hears of each job as either process starts it and ends it (from
    a reader thread for the helper's). Returns False when no helper could start (then
    nothing was compiled)."""
    helper = _start([(source, signature) for _, source, signature in jobs], report)
    if helper is None:
        return False
    try:
        for index, (dispatcher, _, signature) in enumerate(jobs):
            if share and helper.claim(index):
                if report is not None:
                    report(index, "start")
                try:
                    dispatcher.compile(signature)
                except Exception:  # the call compiles it again and reports the error
                    pass
                if report is not None:
                    report(index, "done")
        helper.wait(range(len(jobs)))
    finally:
        helper.stop()
    return True


def _start(jobs: list[tuple[str, tuple]],
           report: Callable[[int, str], None] | None = None) -> Helper | None:
    env = dict(os.environ, GRAPHC_PARALLEL_COMPILE="0")
    try:
        process = subprocess.Popen([sys.executable, "-c", _HELPER, _PACKAGE_DIR],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env)
        data = pickle.dumps(jobs)
        process.stdin.write(len(data).to_bytes(8, "little") + data)
        process.stdin.flush()
    except (OSError, pickle.PicklingError):
        return None
    helper = Helper(process, report)
    _helpers.append(helper)
    return helper


@atexit.register
def _stop_helpers() -> None:
    for helper in list(_helpers):
        helper.stop()


def main() -> None:
    """The helper: take each job the parent has not claimed, in order, and compile its
    kernel for its argument types into numba's cache; report each job on stdout."""
    from .cache import load_kernel

    stdin = sys.stdin.buffer
    size = int.from_bytes(stdin.read(8), "little")
    jobs = pickle.loads(stdin.read(size))  # from the parent process, over a pipe
    claimed: set[int] = set()

    def read_claims() -> None:
        for line in stdin:
            claimed.add(int(line.split()[1]))

    threading.Thread(target=read_claims, daemon=True).start()
    for index, (source, signature) in enumerate(jobs):
        if index in claimed:
            continue
        print(f"start {index}", flush=True)
        try:
            kernel = load_kernel(source)
            if not is_cached(kernel):
                kernel.compile(signature)
        except Exception:  # the parent compiles whatever the helper could not
            pass
        print(f"done {index}", flush=True)
