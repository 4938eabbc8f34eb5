"""The one subprocess runner of the benchmarks: run a child Python process, time it from
its start to the line where it announces its first result, and read the JSON it writes.

A child prints ``first_result <value>`` as soon as it has its first result (a loss, an
output), and writes its measurements as JSON to the file named by ``--out``; the parent
gives the child its start time in :data:`T0_VARIABLE` so the child can say how long the
interpreter took to reach its code.

>>> announce_line(0.5)
'first_result 0.5'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

T0_VARIABLE = "GRAPHC_BENCH_T0"  # the parent's time.time() at the child's start
MARKER = "first_result "


def announce_line(value: object) -> str:
    """The line a child prints when it has its first result."""
    return f"{MARKER}{value!r}"


def announce(value: object) -> None:
    """Print :func:`announce_line` now (the parent's clock stops at it)."""
    print(announce_line(value), flush=True)


def since_start() -> float | None:
    """Seconds since the parent started this child (None when not started by
    :func:`run_child`)."""
    t0 = os.environ.get(T0_VARIABLE)
    return time.time() - float(t0) if t0 else None


class ChildFailed(RuntimeError):
    """A child process exited with an error or never announced its first result."""


def run_process(command: Sequence[str], env: dict[str, str], timeout: float = 1800,
                what: str = "") -> tuple[float | None, float]:
    """Run ``command`` under ``env`` (with :data:`T0_VARIABLE` set); ``(first_result,
    wall)``: seconds from its start to its ``first_result`` line (None if it printed
    none) and to its exit. Raises :class:`ChildFailed` with the end of its stderr when
    it fails or runs past ``timeout`` seconds.

    >>> first, wall = run_process([sys.executable, "-c", "print('first_result 1')"],
    ...                           dict(os.environ))
    >>> 0 < first <= wall
    True
    """
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        child_env = dict(env, **{T0_VARIABLE: repr(time.time())})
        process = subprocess.Popen(list(command), env=child_env, stdout=subprocess.PIPE,
                                   stderr=err, text=True)
        # Reading stdout blocks until the child closes it: a child hung before its
        # first line would block past any wait's timeout, so a timer kills it.
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        first = None
        try:
            for line in process.stdout:
                if first is None and line.startswith(MARKER):
                    first = time.perf_counter() - t0
            code = process.wait()
        finally:
            watchdog.cancel()
            process.stdout.close()
        if expired.is_set():
            code = f"a timeout ({timeout:g} s)"
        wall = time.perf_counter() - t0
        if code != 0:
            err.seek(0)
            raise ChildFailed(f"{what or command[-1]} failed with {code}:\n"
                              f"{err.read()[-4000:]}")
    return first, wall


def run_child(module: str, args: Sequence[str], env: dict[str, str],
              timeout: float = 1800, what: str = "") -> dict[str, Any]:
    """Run ``python -m module *args --out FILE`` under ``env``; its JSON result, with
    ``first_result_wall`` (process start to the ``first_result`` line, None if it never
    printed one) and ``process_wall`` (the whole process) added.

    Raises :class:`ChildFailed` with the end of the child's stderr when it fails or
    runs past ``timeout`` seconds.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        first, wall = run_process([sys.executable, "-m", module, *args, "--out", out], env,
                                  timeout, what or module)
        if not os.path.exists(out):
            raise ChildFailed(f"{what or module} wrote no result")
        result = json.loads(Path(out).read_text())
    result.update(first_result_wall=first, process_wall=wall)
    return result


def rss_bytes() -> dict[str, int]:
    """This process's resident memory now and at its peak (``VmRSS``, ``VmHWM``), in
    bytes; the peak from ``getrusage`` where /proc is absent."""
    try:
        fields = dict(line.split(":", 1) for line in
                      Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return {"now": int(fields["VmRSS"].split()[0]) * 1024,
                "peak": int(fields["VmHWM"].split()[0]) * 1024}
    except (OSError, KeyError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak *= 1 if sys.platform == "darwin" else 1024
        return {"now": peak, "peak": peak}
