"""Threads (docs/architecture.md, "Threads"): realizing, jit calls, training separate
models and inference on one shared model from several Python threads give the
single-thread results. Each case starts its workers at a barrier with a tiny switch
interval, so the interpreter changes threads as often as it can."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.optimizer import SGD

CALLS = 200


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


@pytest.fixture
def busy_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_threads(work, n=2):
    """Run ``work(k)`` on ``n`` threads started together; their results, or the first
    exception raised in one."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def main(k):
        barrier.wait()
        try:
            results[k] = work(k)
        except BaseException as err:  # reported in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=main, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _mlp(seed=0, dropout=0.0):
    graphc.random.seed(seed)
    layers = [M.Linear(16, 32), M.ReLU()]
    if dropout:
        layers.append(M.Dropout(dropout))
    return M.Sequential(*layers, M.Linear(32, 5))


def _batches(k, count, batch=128):
    rng = np.random.default_rng(100 + k)
    return [rng.standard_normal((batch, 16)).astype(np.float32) for _ in range(count)]


def test_one_jit_function_called_from_two_threads(compiled, busy_switching):
    model = _mlp()
    model.eval()

    @graphc.jit
    def probs(x):
        return F.softmax(model(x), axis=1)

    inputs = [_batches(k, 8) for k in range(2)]
    want = [[probs(graphc.tensor(x)).numpy() for x in xs] for xs in inputs]

    def work(k):
        wrong = 0
        for i in range(CALLS):
            got = probs(graphc.tensor(inputs[k][i % 8])).numpy()
            wrong += not np.array_equal(got, want[k][i % 8])
        return wrong

    assert run_threads(work) == [0, 0]


def test_lazy_inference_on_one_shared_model(compiled, busy_switching):
    model = _mlp()
    model.eval()
    inputs = [_batches(k, 8) for k in range(2)]
    want = [[F.softmax(model(graphc.tensor(x)), axis=1).numpy() for x in xs]
            for xs in inputs]

    def work(k):
        wrong = 0
        for i in range(CALLS):
            got = F.softmax(model(graphc.tensor(inputs[k][i % 8])), axis=1).numpy()
            wrong += not np.array_equal(got, want[k][i % 8])
        return wrong

    assert run_threads(work) == [0, 0]


def _train(k, steps):
    """Train model k (with Dropout) for ``steps`` steps; its final weights."""
    graphc.random.seed(10 + k)  # this thread's stream (Dropout's masks)
    model = _mlp(seed=k, dropout=0.25)
    gm, opt = GradManager().attach(model.parameters()), SGD(model.parameters(), lr=0.05,
                                                             momentum=0.9)
    xs = _batches(k, 4, batch=32)
    y = np.arange(32, dtype=np.int32) % 5
    for i in range(steps):
        with gm:
            loss = F.cross_entropy(model(graphc.tensor(xs[i % 4])), graphc.tensor(y))
            gm.backward(loss)
        opt.step().clear_grad()
    return [p.numpy() for p in model.parameters()]


def test_separate_models_training_on_two_threads(compiled, busy_switching):
    want = [_train(k, CALLS) for k in range(2)]
    got = run_threads(lambda k: _train(k, CALLS))
    for k in range(2):
        for a, b in zip(got[k], want[k]):
            np.testing.assert_array_equal(a, b)


def test_a_pending_value_shared_by_two_threads_is_computed_for_each_reader(compiled,
                                                                          busy_switching):
    """A pending Tensor built in one thread and read from two: each reader realizes it in
    its own thread (once per reading thread at most), and both see the same value."""
    x = graphc.tensor(np.arange(1000, dtype=np.float32))
    shared = F.exp(x / 1000) * 3
    want = np.exp(np.arange(1000, dtype=np.float32) / 1000) * 3
    got = run_threads(lambda k: shared.numpy())
    for g in got:
        np.testing.assert_allclose(g, want, rtol=1e-6)
        np.testing.assert_array_equal(g, got[0])


OPENMP_FIRST = """
import ctypes, ctypes.util, os, sys, threading
# An OpenMP runtime loaded before graphc (as torch or scikit-learn load it): graphc then
# steers numba to its workqueue layer, which aborts on concurrent parallel launches.
ctypes.CDLL(ctypes.util.find_library("gomp"), mode=ctypes.RTLD_GLOBAL)
os.environ["GRAPHC_BACKEND"] = "compiled"
import numpy as np, graphc, graphc.functional as F
sys.setswitchinterval(1e-6)
x = graphc.tensor(np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32))
def f():
    return (F.exp(x * 0.5) + x).sum(axis=1)
want = f().numpy(); f().numpy()
import numba
assert numba.threading_layer() == "workqueue", numba.threading_layer()
wrong, barrier = [], threading.Barrier(2)
def work():
    barrier.wait()
    for _ in range(30):
        wrong.append(not np.array_equal(f().numpy(), want))
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print("wrong", sum(wrong), "of", len(wrong))
"""


@pytest.mark.skipif(ctypes.util.find_library("gomp") is None, reason="needs libgomp")
def test_parallel_kernels_from_two_threads_after_openmp_was_loaded(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", OPENMP_FIRST], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrong 0 of 60" in done.stdout
