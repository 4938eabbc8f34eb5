"""Compile progress (graphc/runtime/progress.py): a bar on a terminal, plain lines in a
pipe, nothing under GRAPHC_PROGRESS=0, and a summary whose counts are the kernels the
compile really compiled (the Program's stats, numba's own counts), with a helper
process or two threads compiling at once."""

import io
import re
import threading

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.codegen import cache
from graphc.ir import module_scope
from graphc.runtime import compiler
from graphc.runtime.progress import CompileProgress, Progress

SUMMARY = re.compile(r"graphc: compiled (\d+) kernels in [\d.]+ s \(([^)]*)\)")


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def programs(monkeypatch):
    """The compiled backend with no Program cached, progress shown at once, no helper
    process unless a test asks."""
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    monkeypatch.setenv("GRAPHC_PARALLEL_COMPILE", "0")
    monkeypatch.setenv("GRAPHC_PROGRESS_AFTER", "0")
    monkeypatch.delenv("GRAPHC_PROGRESS", raising=False)
    compiler.clear_programs()
    yield
    compiler.clear_programs()


@pytest.fixture
def fresh(programs, tmp_path, monkeypatch):
    """And an empty kernel cache, no kernel loaded in this process."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    cache._forget_loaded_kernels()
    yield
    cache._forget_loaded_kernels()


class Block(M.Module):
    """Three loop kernels (a row reduction, a column reduction, a transposed sum)."""

    def forward(self, x):
        s = F.exp(x).sum(axis=1, keepdims=True)
        m = (x * s).max(axis=0, keepdims=True)
        return (F.tanh(x - m).transpose(1, 0) * 3).sum(axis=1)


class Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x)


def realize_net(seed: int = 0, cols: int = 96) -> np.ndarray:
    # 64 x 96 elements: past the interpreter's first-sighting size, so it compiles.
    x = np.random.default_rng(seed).standard_normal((64, cols)).astype(np.float32)
    return Net()(graphc.tensor(x)).numpy()


def last_program():
    return next(reversed(compiler._programs.values())).program


def summaries(text: str) -> list[tuple[int, dict[str, int]]]:
    found = []
    for total, parts in SUMMARY.findall(text):
        counts = {"new": 0, "from cache": 0, "library": 0}
        for part in parts.split(", "):
            n, _, what = part.partition(" ")
            counts[what] = int(n)
        found.append((int(total), counts))
    return found


# ---- the display --------------------------------------------------------------------

def test_a_terminal_gets_a_bar_redrawn_in_place():
    pytest.importorskip("tqdm")
    out = Terminal()
    p = CompileProgress(stream=out, after=0, redraw=False)
    p.expect({0: ("loop", "block.fc: add"), 2: ("library", "block.fc: matmul")})
    p.start(0)
    p.done(0, "new")
    p.start(2)
    p.done(2, "library")
    assert p.finish() == {"new": 1, "from_cache": 0, "library": 1}
    text = out.getvalue()
    assert "\r" in text and "1/2 kernels" in text and "block.fc: matmul" in text
    assert text.rstrip().endswith("(1 new, 1 library)")
    assert summaries(text) == [(2, {"new": 1, "from cache": 0, "library": 1})]


def test_a_pipe_gets_plain_lines_only():
    now = [0.0]
    out = io.StringIO()
    p = CompileProgress(stream=out, after=1.0, clock=lambda: now[0], redraw=False)
    p.expect({k: ("loop", f"layer{k}: add") for k in range(10)})
    p.done(0, "new")  # before a second: nothing yet
    assert out.getvalue() == ""
    for k in range(1, 10):
        now[0] = 0.8 + 0.5 * k
        p.start(k)
        p.done(k, "new")
    p.finish()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "graphc: compiling 1/10 kernels, 1.3 s, layer1: add"
    assert lines[-1] == "graphc: compiled 10 kernels in 5.3 s (10 new)"
    assert len(lines) == 2  # 4 s from the first to the last: no line between


def test_a_plain_line_at_most_every_few_seconds_while_compiling():
    out = io.StringIO()
    bar = Progress("graphc: compiling", total=4, unit="kernels", stream=out, every=0.0)
    bar.update(1, note="a")
    bar.update(2, note="b")
    bar.close("done")
    assert out.getvalue().splitlines() == ["graphc: compiling 1/4 kernels, 0.0 s, a",
                                           "graphc: compiling 2/4 kernels, 0.0 s, b", "done"]


def test_a_quick_compile_shows_nothing():
    out = io.StringIO()
    p = CompileProgress(stream=out, after=60.0)
    p.expect({0: ("loop", "add")})
    p.done(0, "new")
    assert p.finish() == {"new": 1, "from_cache": 0, "library": 0}
    assert out.getvalue() == ""


def test_bad_threshold_is_named(monkeypatch):
    monkeypatch.setenv("GRAPHC_PROGRESS_AFTER", "soon")
    with pytest.raises(ValueError, match="GRAPHC_PROGRESS_AFTER"):
        CompileProgress.from_environment()


def test_gradients_carry_their_forward_scope():
    x = graphc.tensor(np.ones(3, np.float32))
    with module_scope("net.fc"):
        y = F.exp(x).sum()
    g = graphc.grad(y, x)
    assert g._node.meta.scope == "net.fc" and g._node.meta.from_autodiff


# ---- real compiles ------------------------------------------------------------------

def test_summary_counts_the_kernels_compiled_then_loaded(fresh, capsys):
    before = cache.compile_stats()["numba_compiles"]
    first = realize_net()
    program = last_program()
    compiled_here = cache.compile_stats()["numba_compiles"] - before
    err = capsys.readouterr().err
    assert "\r" not in err
    assert program.stats["kernels"] == 3 and compiled_here == 3
    assert program.stats["compiled_kernels"] == {"new": 3, "from_cache": 0, "library": 0}
    assert summaries(err) == [(3, {"new": 3, "from cache": 0, "library": 0})]
    labels = [label for _, label in program.kernel_steps.values()]
    assert len(labels) == 3 and all(label.startswith("block: ") for label in labels)
    # A new Program (another process, say) loads the same kernels from numba's cache.
    compiler.clear_programs()
    cache._forget_loaded_kernels()
    assert np.array_equal(realize_net(), first)
    assert last_program().stats["compiled_kernels"] == {"new": 0, "from_cache": 3,
                                                        "library": 0}
    assert summaries(capsys.readouterr().err) == [(3, {"new": 0, "from cache": 3,
                                                       "library": 0})]


def test_silent_under_graphc_progress_0(programs, capsys, monkeypatch):
    monkeypatch.setenv("GRAPHC_PROGRESS", "0")
    realize_net()
    assert capsys.readouterr().err == ""
    assert sum(last_program().stats["compiled_kernels"].values()) == 3  # counted all the same


def test_kernels_a_helper_process_compiled_count_as_new(fresh, capsys, monkeypatch):
    from graphc.codegen import precompile

    monkeypatch.setenv("GRAPHC_PARALLEL_COMPILE", "1")
    if not precompile.enabled():
        pytest.skip("no helper process on this machine")
    started = []
    real_start = precompile._start

    def start(jobs, report=None):
        started.append(len(jobs))
        return real_start(jobs, report)

    monkeypatch.setattr(precompile, "_start", start)
    realize_net()
    assert started == [3]  # the helper had the three kernels to share
    assert last_program().stats["compiled_kernels"] == {"new": 3, "from_cache": 0,
                                                        "library": 0}
    assert summaries(capsys.readouterr().err) == [(3, {"new": 3, "from cache": 0,
                                                       "library": 0})]


def test_two_threads_compiling_at_once_each_count_their_own(fresh, capsys):
    errors = []

    def work(cols: int) -> None:
        try:
            realize_net(cols=cols)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(cols,)) for cols in (80, 96)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    found = summaries(capsys.readouterr().err)
    # Different shapes share kernels (kernels are not specialised on sizes): the two
    # Programs' first runs compile three kernels between them, each counted once.
    assert [total for total, _ in found] == [3, 3]
    assert sum(counts["new"] for _, counts in found) == 3
    assert sum(counts["new"] + counts["from cache"] for _, counts in found) == 6
    stats = [c.program.stats["compiled_kernels"] for c in compiler._programs.values()]
    key = lambda counts: sorted(counts.items())  # noqa: E731
    assert sorted(found_counts(stats), key=key) == sorted((c for _, c in found), key=key)


def found_counts(stats: list[dict[str, int]]) -> list[dict[str, int]]:
    return [{"new": s["new"], "from cache": s["from_cache"], "library": s["library"]}
            for s in stats]
