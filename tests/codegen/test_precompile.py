"""Parallel compilation: argument types predicted before the first run are the ones the
run uses; a helper process compiles kernels into numba's cache, where this process loads
them instead of compiling; a Program's first run shares its kernels with a helper and
computes what the interpreter computes."""

import sys

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.codegen import cache, cache_index, precompile
from graphc.ir import structural_key
from graphc.runtime import compiler


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """An empty kernel cache, nothing loaded, the compiled backend, no helpers unless
    a test asks."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    monkeypatch.setenv("GRAPHC_PARALLEL_COMPILE", "0")
    cache._forget_loaded_kernels()
    compiler.clear_programs()
    yield
    cache._forget_loaded_kernels()
    compiler.clear_programs()


def graph(seed: int = 0):
    """Three outputs needing several different loop kernels (and a view of a product)."""
    rng = np.random.default_rng(seed)
    x = graphc.tensor(rng.standard_normal((6, 5)).astype(np.float32))
    w = graphc.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    h = F.relu(x @ w + 1.0)
    return [F.softmax(h, axis=1), (h.T * 2.0).sum(axis=1), F.exp(x).sum(axis=0)]


def compiled(outputs):
    nodes = [t._node for t in outputs]
    _, args = structural_key(nodes)
    return compiler.compile_outputs(nodes, args), [compiler._runtime_value(a) for a in args]


def test_predicted_argument_types_are_the_ones_the_run_uses():
    result, values = compiled(graph())
    calls = result.calls.predict(values)
    assert len({id(d) for _, d, _ in calls}) >= 3
    result.program.run(values)
    for _, dispatcher, types in calls:
        assert [tuple(s) for s in dispatcher.signatures] == [types]  # compiled once, as told


def test_a_helper_compiles_into_the_cache_and_this_process_only_loads():
    result, values = compiled(graph())
    jobs = result.calls.jobs(values)
    assert len(jobs) >= 3 and not any(precompile.is_cached(d) for d, _, _ in jobs)
    assert precompile.compile_in_parallel(jobs, share=False)  # all in the helper
    assert all(precompile.is_cached(d) for d, _, _ in jobs)
    before = cache.compile_stats()
    result.program.run(values)
    after = cache.compile_stats()
    assert after["numba_compiles"] == before["numba_compiles"]  # nothing compiled here
    assert after["numba_cache_hits"] - before["numba_cache_hits"] == len(jobs)


def test_what_a_helper_writes_is_recorded_and_checked_before_it_loads(tmp_path):
    result, values = compiled(graph())
    jobs = result.calls.jobs(values)
    assert precompile.compile_in_parallel(jobs, share=False)
    root = tmp_path / "cache"
    key = cache_index.secret(root, create=False)
    written = sorted((root / "kernels" / "__pycache__").glob("*.nb[ic]"))
    assert len(written) == 2 * len(jobs)
    for path in written:  # each file the helper wrote is vouched for by its record
        record = path.parent / (path.name.split(".py")[0] + ".py{}{}".format(
            *sys.version_info) + cache_index.RECORD_SUFFIX)
        binding = path.name.split(".")[0][2:]
        assert cache_index.verified_bytes(path, path.read_bytes(), record, root, binding)
        assert key is not None

    # One of its data files replaced by another kernel's: detected before it loads.
    data = [p for p in written if p.suffix == ".nbc"]
    data[0].write_bytes(data[1].read_bytes())
    before = cache.compile_stats()
    with pytest.warns(cache.KernelCacheWarning, match="does not match graphc's record"):
        got = result.program.run(values)
    after = cache.compile_stats()
    assert after["numba_compiles"] - before["numba_compiles"] == 1
    assert after["numba_cache_hits"] - before["numba_cache_hits"] == len(jobs) - 1
    reference = [np.asarray(v) for v in got]
    compiler.clear_programs()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAPHC_BACKEND", "interp")
        for value, want in zip(reference, graph()):
            np.testing.assert_allclose(value, want.numpy(), rtol=1e-5, atol=1e-6)


def test_the_first_run_shares_compiling_with_a_helper_and_computes_the_same(monkeypatch):
    monkeypatch.setenv("GRAPHC_PARALLEL_COMPILE", "1")
    monkeypatch.setattr(precompile.os, "cpu_count", lambda: 2)
    result, values = compiled(graph())
    assert result.program.first_run is not None
    got = result.program.run(values)
    assert result.program.first_run is None  # once
    assert all(precompile.is_cached(d) for d, _, _ in result.calls.jobs(values))
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")
    for value, want in zip(got, graph()):
        np.testing.assert_allclose(value, want.numpy(), rtol=1e-5, atol=1e-6)


def test_off_when_asked_on_one_core_and_without_enough_missing_kernels(monkeypatch):
    monkeypatch.setenv("GRAPHC_PARALLEL_COMPILE", "1")
    monkeypatch.setattr(precompile.os, "cpu_count", lambda: 1)
    assert not precompile.enabled()
    monkeypatch.setattr(precompile.os, "cpu_count", lambda: 2)
    assert precompile.enabled()
    monkeypatch.setenv("GRAPHC_PARALLEL_COMPILE", "0")
    assert not precompile.enabled()
    monkeypatch.setenv("GRAPHC_PARALLEL_COMPILE", "1")
    first, values = compiled(graph())
    first.program.run(values)  # every kernel is in numba's cache now
    cache._forget_loaded_kernels()
    again, values = compiled(graph(1))
    assert again.program.first_run is None  # nothing missing: no helper


def test_a_wrong_prediction_only_costs_a_compile_at_the_call(monkeypatch):
    from numba import types

    result, values = compiled(graph())
    jobs = result.calls.jobs(values)
    wrong = [(d, src, tuple(types.Array(types.float64, t.ndim, "C") if isinstance(
        t, types.Array) else t for t in sig)) for d, src, sig in jobs]
    assert precompile.compile_in_parallel(wrong, share=False)  # cached, for other types
    before = cache.compile_stats()
    got = result.program.run(values)
    after = cache.compile_stats()
    assert after["numba_compiles"] - before["numba_compiles"] == len(jobs)
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")  # the reference's answer
    for value, want in zip(got, [t.numpy() for t in graph()]):
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)


def test_in_place_variants_are_compiled_ahead_too():
    """A state update's in-place variant is among the jobs (the runs after the first
    donate): compiled by a helper, a donated run loads it and compiles nothing."""
    rng = np.random.default_rng(1)
    w = graphc.tensor(rng.standard_normal((6, 5)).astype(np.float32))
    g = graphc.tensor(rng.standard_normal((6, 5)).astype(np.float32))
    result, values = compiled([w - 0.5 * F.exp(g)])
    pairs = list(result.program.in_place)
    assert pairs
    jobs = result.calls.jobs(values)
    assert any("# in place:" in source for _, source, _ in jobs)
    assert precompile.compile_in_parallel(jobs, share=False)
    want = w.numpy() - np.float32(0.5) * np.exp(g.numpy())
    before = cache.compile_stats()
    out = result.program.run(values, donate=pairs)
    assert cache.compile_stats()["numba_compiles"] == before["numba_compiles"]
    assert out[0] is values[pairs[0][0]]  # written over the argument
    np.testing.assert_allclose(out[0], want, rtol=1e-5, atol=1e-6)
