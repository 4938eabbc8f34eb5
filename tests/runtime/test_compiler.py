"""The compile-and-cache pipeline: Program cache, tiering, logging, batch-size reuse."""

import gc
import weakref

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.codegen.cpu import render_kernel
from graphc.ir import Graph, structural_key, topo_order
from graphc.passes.fusion import fuse
from graphc.runtime import compiler
from tests.runtime.compiled import assert_same

rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def compiled_backend(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def mlp_step(batch):
    x = graphc.tensor(rng.standard_normal((batch, 8)).astype(np.float32))
    w = graphc.tensor(rng.standard_normal((8, 4)).astype(np.float32))
    return F.softmax(F.relu(x @ w) * 0.5, axis=1), x, w


def test_second_step_of_a_loop_compiles_nothing():
    for _ in range(2):  # a tiny graph is interpreted when first seen, compiled when seen again
        y, x, w = mlp_step(64)
        graphc.realize(y)
    before = dict(compiler.stats)
    for _ in range(3):
        y, x, w = mlp_step(64)
        y.numpy()
    assert compiler.stats["programs_compiled"] == before["programs_compiled"]
    assert compiler.stats["program_hits"] >= before["program_hits"] + 3


def test_new_batch_size_reuses_kernel_sources():
    def sources(batch):
        y, _, _ = mlp_step(batch)
        outs = [y._node]
        key, args = structural_key(outs)
        fused = fuse(Graph(tuple(outs)))
        scalars = {a.uid for a in args if a.op == "scalar"}
        return [render_kernel(fused, k, scalars).source
                for k in fused.kernels if k.kind == "loop"]

    assert sources(16) == sources(48)


def test_step_scalars_are_runtime_arguments():
    x = graphc.tensor(np.arange(6, dtype=np.float32))
    before = compiler.stats["programs_compiled"]
    results = []
    for lr in (0.5, 0.25, 0.125):
        y = x * lr + 3.0
        assert_same(y)
        results.append(y)
    # One structure, three learning rates: one Program.
    assert compiler.stats["programs_compiled"] <= before + 1
    for lr, y in zip((0.5, 0.25, 0.125), results):
        np.testing.assert_allclose(y.numpy(), np.arange(6) * lr + 3.0, rtol=1e-6)


def test_tiny_graph_is_interpreted_within_its_budget_then_compiled(monkeypatch):
    # With a budget of two sightings' nodes per structure, `a * 7 + 1`'s first two
    # sightings are interpreted and the third compiles, with the same bits.
    nodes = len(topo_order([(graphc.tensor(np.ones(3, np.float32)) * 7 + 1)._node]))
    monkeypatch.setattr(compiler, "INTERPRET_BUDGET", 2 * nodes + 1)
    compiler.clear_programs()
    before = dict(compiler.stats)
    results = []
    for fill in (1, 2, 3, 4):
        a = graphc.tensor(np.full(3, fill / 3, np.float32))
        results.append((a * 7 + 1).numpy())
        np.testing.assert_array_equal(results[-1], np.full(3, fill / 3, np.float32)
                                      * np.float32(7) + np.float32(1))
        ran = {k: compiler.stats[k] - before[k]
               for k in ("interpreted", "programs_compiled", "program_hits")}
        want = {1: (1, 0, 0), 2: (2, 0, 0), 3: (2, 1, 0), 4: (2, 1, 1)}[fill]
        assert (ran["interpreted"], ran["programs_compiled"], ran["program_hits"]) == want


def test_scalar_chains_of_the_getting_started_loop_are_never_compiled():
    # docs/getting-started.md: 5,000 steps of `s * 0.5 + 1` realize chains of some
    # 3,000 scalar nodes (the pending-depth limit) a few times. Interpreting them costs
    # milliseconds; compiling each structure cost seconds.
    compiler.clear_programs()
    before = dict(compiler.stats)
    s, want = graphc.tensor(0.25), np.float32(0.25)
    for _ in range(5000):
        s = s * 0.5 + 1
        want = want * np.float32(0.5) + np.float32(1)
    assert s.numpy().tobytes() == np.asarray(want).tobytes()
    assert compiler.stats["programs_compiled"] == before["programs_compiled"]
    assert compiler.stats["interpreted"] > before["interpreted"] + 2


def test_log_compiles_names_the_difference(monkeypatch, capsys):
    monkeypatch.setenv("GRAPHC_LOG_COMPILES", "1")
    big = graphc.tensor(rng.standard_normal((80, 80)).astype(np.float32))
    (F.exp(big) + 1).numpy()
    (F.exp(big.astype("float64")) + 1).numpy()
    err = capsys.readouterr().err
    assert "graphc: compiled a program" in err
    assert "float64" in err


def test_live_intermediates_are_memoised_with_the_result():
    x = graphc.tensor(rng.standard_normal((70, 70)).astype(np.float32))
    h = F.exp(x)
    y = (h * 2).sum()
    y.numpy()
    assert h._node.realized
    np.testing.assert_allclose(h.numpy(), np.exp(x.numpy()), rtol=1e-6)


def test_program_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(compiler, "MAX_PROGRAMS", 3)
    x = graphc.tensor(rng.standard_normal((70, 70)).astype(np.float32))
    for k in range(5):
        (x.reshape(70 * 70 // (k + 1) if 4900 % (k + 1) == 0 else 4900, -1) + 1).numpy()
    assert len(compiler._programs) <= 3


def test_outputs_are_never_clobbered_by_the_next_call():
    x1 = graphc.tensor(np.full((90, 90), 1, np.float32))
    x2 = graphc.tensor(np.full((90, 90), 2, np.float32))
    y1 = F.exp(x1) * 3
    y1.numpy()
    y2 = F.exp(x2) * 3
    y2.numpy()
    np.testing.assert_allclose(y1.numpy(), np.exp(1) * 3, rtol=1e-6)
    np.testing.assert_allclose(y2.numpy(), np.exp(2) * 3, rtol=1e-6)


def test_gather_out_of_bounds_names_op_and_line():
    x = graphc.tensor(rng.standard_normal((100, 50)).astype(np.float32))
    idx = graphc.tensor(np.full((100, 1), 60, np.int32))
    y = F.gather(x, 1, idx) * 2
    with pytest.raises(graphc.OpError, match=r"gather: .*out of bounds.*test_compiler.py:\d+"):
        assert_same(y)


def test_float16_is_a_storage_type():
    x = graphc.tensor(rng.standard_normal((40, 40)).astype(np.float16))
    assert_same(F.tanh(x) * 2 + x, (x * x).sum(axis=1))


def test_a_cached_program_keeps_no_buffer_of_the_call_that_compiled_it():
    """The cache keeps the Program, not the graph it was built from: the first call's
    inputs are freed once nobody else holds them (a model's initial weights would
    otherwise stay alive beside the trained ones)."""
    rng = np.random.default_rng(0)
    a = graphc.tensor(rng.standard_normal((128, 64)).astype(np.float32))  # not tiny:
    b = graphc.tensor(rng.standard_normal((64, 16)).astype(np.float32))  # compiled at once
    watched = [weakref.ref(a._node.buffer), weakref.ref(b._node.buffer)]
    out = F.relu(a @ b + 1.0).sum(axis=0)
    want = np.maximum(a.numpy() @ b.numpy() + 1, 0).sum(axis=0)
    compiled = compiler.stats["programs_compiled"]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5)
    assert compiler.stats["programs_compiled"] == compiled + 1
    del a, b, out
    gc.collect()
    assert [ref() for ref in watched] == [None, None]


def test_a_failing_cached_step_names_the_line_of_this_calls_graph(monkeypatch):
    """The Program was compiled for a graph built on one line; a later call built on
    another line with a bad label must name the later line, not the first."""
    import inspect

    from graphc.ir import OpError

    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    logits = graphc.tensor(np.zeros((4, 3), np.float32))

    def first(y):
        return F.cross_entropy(logits * 2, graphc.tensor(y))

    def second(y):
        return F.cross_entropy(logits * 2, graphc.tensor(y))

    line = inspect.getsourcelines(second)[1] + 1
    for _ in range(3):  # compiled and cached by the first line's graph
        first(np.array([0, 1, 2, 0], np.int32)).numpy()
    hits = compiler.stats["program_hits"]
    with pytest.raises(OpError, match=rf"label 5 is out of bounds.*test_compiler\.py:{line}\)"):
        second(np.array([0, 5, 2, 0], np.int32)).numpy()
    assert compiler.stats["program_hits"] == hits + 1  # the cached Program ran
