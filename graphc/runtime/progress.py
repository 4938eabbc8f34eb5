"""Compile progress on stderr: kernels done of all, time so far, the model part at work.

A cold Program compiles in two places: its build (passes, fusion, code generation) and
its first run, where numba compiles each kernel at its first call (or a helper process
compiles some ahead: graphc.codegen.precompile). The compile that misses the Program
cache owns one :class:`CompileProgress` and passes it down: ``compile_outputs`` names
the stages and the kernels, the Program carries it to its first run, which reports each
kernel step as it finishes (compiled now, found in a cache, or a library call) and
closes it. Nothing is shown unless compiling takes more than ``GRAPHC_PROGRESS_AFTER``
seconds (1 by default); then a bar (tqdm) on a terminal, or plain lines elsewhere (one
at once, then at most one every :data:`PLAIN_EVERY` seconds), and a summary at the end.
``GRAPHC_PROGRESS=0`` shows nothing. Counts are kept either way, in the Program's
``stats["compiled_kernels"]``.

>>> import io
>>> out, now = io.StringIO(), [0.0]              # not a terminal: plain lines
>>> p = CompileProgress(stream=out, after=1.0, clock=lambda: now[0], redraw=False)
>>> p.expect({3: ("loop", "fc1: matmul"), 5: ("loop", "fc2: add")})
>>> p.start(3); now[0] = 1.5; p.done(3, "new")  # past a second: shown
>>> p.start(5); now[0] = 2.0; p.done(5, "from_cache")
>>> p.finish()
{'new': 1, 'from_cache': 1, 'library': 0}
>>> print(out.getvalue(), end="")
graphc: compiling 1/2 kernels, 1.5 s, fc1: matmul
graphc: compiled 2 kernels in 2.0 s (1 new, 1 from cache)
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TextIO

PLAIN_EVERY = 5.0  # seconds between two plain progress lines (not a terminal)
BAR_EVERY = 0.5  # seconds between two redraws of a bar that nothing else moved
OUTCOMES = ("new", "from_cache", "library")


def after_seconds() -> float | None:
    """How long a compile runs before its progress shows: ``GRAPHC_PROGRESS_AFTER``
    (seconds, 1 by default); None under ``GRAPHC_PROGRESS=0`` (never)."""
    if os.environ.get("GRAPHC_PROGRESS", "1").strip() in ("0", "false", "no", "off"):
        return None
    text = os.environ.get("GRAPHC_PROGRESS_AFTER", "").strip()
    try:
        return max(0.0, float(text)) if text else 1.0
    except ValueError:
        raise ValueError(f"GRAPHC_PROGRESS_AFTER={text!r}: expected seconds, such as 1 or "
                         f"0.5") from None


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """A progress display on ``stream``: a tqdm bar, redrawn in place, where the stream is
    a terminal and tqdm is installed; plain lines elsewhere (the first update, then at
    most one every ``every`` seconds, and the closing line), never a carriage return.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = Progress("mlp", total=3, unit="epochs", stream=out, clock=iter([0, 1, 2]).__next__)
    >>> bar.update(1, note="loss 0.5"); bar.update(2)       # the second is not due yet
    >>> bar.close("mlp: 3 epochs in 2.0 s")
    >>> print(out.getvalue(), end="")
    mlp 1/3 epochs, 1.0 s, loss 0.5
    mlp: 3 epochs in 2.0 s
    """

    def __init__(self, desc: str, total: int | None = None, unit: str = "",
                 stream: TextIO | None = None, every: float = PLAIN_EVERY,
                 clock: Callable[[], float] = time.perf_counter,
                 started: float | None = None) -> None:
        self.desc, self.total, self.unit, self.every = desc, total, unit, every
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.started = clock() if started is None else started
        self.n, self.note, self.last_line, self.broken = 0, "", None, False
        self.bar = self._tqdm() if is_terminal(self.stream) else None

    def _tqdm(self) -> Any:
        try:
            from tqdm import tqdm
        except ImportError:  # graphc depends on tqdm; without it, plain lines
            return None
        bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, file=self.stream,
                   leave=False, dynamic_ncols=True, mininterval=0.1, disable=False,
                   bar_format=self._format())
        bar.start_t -= self.clock() - self.started  # count the time before it showed
        return bar

    def _format(self) -> str:
        if self.total is None:
            return "{desc} [{elapsed}{postfix}]"
        return ("{desc} {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt} " + self.unit
                + " [{elapsed}{postfix}]")

    def update(self, n: int | None = None, total: int | None = None, note: str | None = None,
               desc: str | None = None) -> None:
        """Set what is done (``n`` of ``total``), the note after it and the description;
        redraw the bar, or write a plain line if one is due (or the total or description
        changed)."""
        if self.broken:
            return
        changed = (total is not None and total != self.total) or (desc and desc != self.desc)
        self.n = self.n if n is None else n
        self.total = self.total if total is None else total
        self.note = self.note if note is None else note
        self.desc = desc or self.desc
        try:
            if self.bar is not None:
                bar = self.bar
                if changed:
                    bar.total, bar.desc, bar.bar_format = self.total, self.desc, self._format()
                bar.n = self.n
                bar.set_postfix_str(self.note, refresh=False)
                bar.refresh()
                return
            now = self.clock()
            if changed or self.last_line is None or now - self.last_line >= self.every:
                self.last_line = now
                done = "" if self.total is None else f" {self.n}/{self.total}"
                done += f" {self.unit}" if done and self.unit else ""
                note = f", {self.note}" if self.note else ""
                self._write(f"{self.desc}{done}, {now - self.started:.1f} s{note}")
        except (OSError, ValueError):  # a closed stream: show nothing more
            self.broken = True

    def close(self, line: str | None = None) -> None:
        """Remove the bar (plain lines stay) and write ``line``, if given."""
        try:
            if self.bar is not None:
                self.bar.close()
            if line and not self.broken:
                self._write(line)
        except (OSError, ValueError):
            pass
        self.bar, self.broken = None, True

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class CompileProgress:
    """What one compile has done, shown once it takes longer than ``after`` seconds
    (None: never shown, counts only) on ``stream`` (stderr by default); ``clock`` tells
    the time, and unless ``redraw`` is False a thread shows it when due and keeps its
    time current while a long kernel compiles. Thread-safe: the compiling thread, a
    helper process's reader thread and the redrawing thread report to it at once.

    ``expect`` gives the kernel steps (step index → (kind, label)); each is then
    ``done`` once, as ``"new"`` (numba compiled it for this compile, here or in the
    helper), ``"from_cache"`` (loaded from numba's cache, or compiled before in this
    process) or ``"library"`` (a library call that compiled nothing); ``finish``
    returns the counts and writes the summary if the progress was shown."""

    def __init__(self, stream: TextIO | None = None, after: float | None = 1.0,
                 clock: Callable[[], float] = time.perf_counter, redraw: bool = True) -> None:
        self.stream, self.after, self.clock, self.redraw = stream, after, clock, redraw
        self.started, self.ended, self.closed = clock(), 0.0, False
        self.stage, self.current = "graphc: optimising the graph", ""
        self.steps: dict[int, tuple[str, str]] = {}
        self.outcome: dict[int, str] = {}
        self.display: Progress | None = None
        self._lock = threading.RLock()
        self._wake: threading.Event | None = None
        self._tick()
        self.resume()

    @classmethod
    def from_environment(cls) -> CompileProgress:
        """A progress on stderr, shown after ``GRAPHC_PROGRESS_AFTER`` unless
        ``GRAPHC_PROGRESS=0``."""
        return cls(after=after_seconds())

    def set_stage(self, stage: str) -> None:
        with self._lock:
            self.stage = f"graphc: {stage}"
            self._tick()

    def expect(self, steps: dict[int, tuple[str, str]]) -> None:
        """The kernel steps to count: step index → (``"loop"`` | ``"library"``, label)."""
        with self._lock:
            self.steps = dict(steps)
            self.stage = "graphc: compiling"
            self._tick()

    def start(self, step: int) -> None:
        """Kernel ``step`` begins compiling (or loading): show its label."""
        with self._lock:
            if step in self.steps and step not in self.outcome:
                self.current = self.steps[step][1]
                self._tick()

    def done(self, step: int, outcome: str) -> None:
        """Kernel ``step`` is ready (counted once: the first report wins)."""
        with self._lock:
            if step in self.steps and step not in self.outcome:
                self.outcome[step] = outcome
                self._tick()

    def run_steps(self, steps: Sequence[Any], vals: list, gpu: bool = False) -> None:
        """Run a Program's first call (``steps`` over ``vals``), reporting each kernel
        step: ``"new"`` when numba compiled anything in this thread during it (on a
        ``gpu``, also when graphc's kernels count a compile more: numba-cuda announces
        none)."""
        compiles = compiles_in_this_thread
        if gpu:
            from ..codegen.cache import compile_stats

            def compiles() -> int:
                return compiles_in_this_thread() + compile_stats()["numba_compiles"]
        for index, step in enumerate(steps):
            kind = self.steps.get(index)
            if kind is None or index in self.outcome:
                step.run(vals)
                continue
            self.start(index)
            before = compiles()
            step.run(vals)
            if compiles() > before:
                self.done(index, "new")
            else:
                self.done(index, "library" if kind[0] == "library" else "from_cache")

    def elapsed(self) -> float:
        """Seconds since the compile began (until it finished, once it has)."""
        with self._lock:
            end = self.ended if self.closed else self.clock()
        return end - self.started

    def counts(self) -> dict[str, int]:
        with self._lock:
            tally = Counter(self.outcome.values())
        return {k: tally[k] for k in OUTCOMES}

    def hold(self) -> None:
        """Stop redrawing (the Program is built, its first run not begun)."""
        with self._lock:
            if self._wake is not None:
                self._wake.set()
                self._wake = None

    def resume(self) -> None:
        """Redraw again (the first run begins): a thread wakes to show it when due and to
        keep its time current."""
        with self._lock:
            if self.closed or self.after is None or not self.redraw or self._wake is not None:
                return
            wake = self._wake = threading.Event()
        threading.Thread(target=self._ticker, args=(wake,), daemon=True,
                         name="graphc-progress").start()

    def finish(self, failed: bool = False) -> dict[str, int]:
        """Close: the counts, and the summary line where the progress was shown."""
        self.hold()
        counts = self.counts()
        with self._lock:
            if self.closed:
                return counts
            self.closed, self.ended = True, self.clock()
            if self.display is not None:
                self.display.close(None if failed else self.summary(counts))
        return counts

    def summary(self, counts: dict[str, int] | None = None) -> str:
        counts = counts or self.counts()
        parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in OUTCOMES if counts[k]]
        return (f"graphc: compiled {len(self.steps)} kernels in "
                f"{self.elapsed():.1f} s ({', '.join(parts) or 'none run'})")

    def _ticker(self, wake: threading.Event) -> None:
        while True:
            with self._lock:
                if wake.is_set() or self.closed:
                    return
                self._tick(timer=True)
                shown = self.display is not None
                wait = (BAR_EVERY if self.display.bar is not None else self.display.every
                        ) if shown else self.after - (self.clock() - self.started)
            if wake.wait(max(wait, 0.01)):
                return

    def _tick(self, timer: bool = False) -> None:
        """Show the progress if it is due, and bring it up to date (under the lock)."""
        if self.closed or self.after is None:
            return
        total = len(self.steps) if self.steps else None
        if self.display is None:
            if self.clock() - self.started < self.after:
                return
            self.display = Progress(self.stage, total, unit="kernels", stream=self.stream,
                                    clock=self.clock, started=self.started)
        # Plain lines: the first, then the timer's, at most one every PLAIN_EVERY.
        if self.display.bar is None and not timer and self.display.last_line is not None:
            return
        self.display.update(len(self.outcome), total, self.current, self.stage)


# ---- numba compiles per thread ---------------------------------------------------------

class _Counts(threading.local):
    compiles = 0


_counts = _Counts()
_listening: list[bool] = []
_listen_lock = threading.Lock()


def compiles_in_this_thread() -> int:
    """How many functions numba has begun compiling in this thread (callees included),
    counted by a listener on numba's ``numba:compile`` event, installed at the first
    call."""
    if not _listening:
        with _listen_lock:
            if not _listening:
                from numba.core import event

                class Listener(event.Listener):
                    def on_start(self, ev: Any) -> None:
                        _counts.compiles += 1

                    def on_end(self, ev: Any) -> None:
                        pass

                event.register("numba:compile", Listener())
                _listening.append(True)
    return _counts.compiles
