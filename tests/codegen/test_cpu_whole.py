"""Whole-domain reductions (graphc/codegen/cpu_whole.py): float reductions of a parallel
kernel run in blocks of a fixed order, so their bits do not depend on the number of
threads or on the call; every reduction matches the reference interpreter."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.codegen import cpu, cpu_whole
from graphc.ir import structural_key
from graphc.runtime.compiler import _runtime_value, compile_outputs
from tests.runtime.compiled import assert_same, run_compiled

rng = np.random.default_rng(14)


@pytest.fixture
def small_blocks(monkeypatch):
    """Parallel kernels and many blocks already at test sizes."""
    monkeypatch.setattr(cpu, "PARALLEL_MIN_ELEMENTS", 1024)
    monkeypatch.setattr(cpu_whole, "BLOCK_POINTS", 64)


@pytest.mark.parametrize("dtype, shape", [("float32", (5000,)), ("float64", (97, 61)),
                                          ("float16", (5000,))])
def test_blocked_reductions_match_the_reference(small_blocks, dtype, shape):
    data = rng.standard_normal(shape).astype(dtype)
    data.flat[rng.integers(0, data.size, 3)] = 2.5  # ties for argmax
    x = graphc.tensor(data, dtype=dtype)
    near_one = graphc.tensor((1 + data / 1000).astype(dtype), dtype=dtype)
    compiled = assert_same(x.sum(), (x * x).sum(), x.max(), F.argmin(x), near_one.prod())
    source = compiled.kernels[0].source
    assert "for part in prange(nb):" in source
    assert not re.search(r"acc\d+ [+*]= ", source), source  # no numba prange reduction


@pytest.mark.parametrize("where", [0, 4999])
def test_blocked_max_min_and_arg_propagate_nan(small_blocks, where):
    data = rng.standard_normal(5000).astype(np.float32)
    data[where] = np.nan
    x = graphc.tensor(data)
    assert_same(x.max(), F.argmin(x), x.sum())


def test_integer_and_bool_whole_reductions_stay_exact(small_blocks):
    a = graphc.tensor(rng.integers(-1000, 1000, 5000).astype(np.int32))
    assert_same(a.sum(), F.argmin(a), F.argmax(a > 990), (a > 999).max())


# 2**21 float32 values summing differently in every order: 2**60 first, -2**60 last and
# ones between, lost where they meet a 2**60 in the same partial (float64 keeps 53 bits).
SUM = """
import numpy as np, graphc, numba
n = 1 << 21
data = np.ones(n, np.float32)
data[0], data[-1] = 2.0 ** 60, -(2.0 ** 60)
x = graphc.tensor(data)
print(numba.get_num_threads(), np.asarray(x.sum().numpy()).view(np.uint32))
"""


def test_whole_sum_is_the_same_bits_for_any_thread_count_and_every_call():
    """A parallel kernel (2**21 >= PARALLEL_MIN_ELEMENTS) under NUMBA_NUM_THREADS=1, 2 and
    3, in subprocesses, and 50 calls here. numba's prange reduction gave each thread's
    share its own partial, so the ones lost to 2**60 depended on the split."""
    assert 1 << 21 >= cpu.PARALLEL_MIN_ELEMENTS
    bits = set()
    for threads in (1, 2, 3):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), GRAPHC_BACKEND="compiled")
        out = subprocess.run([sys.executable, "-c", SUM], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
        assert out[0] == str(threads)
        bits.add(int(out[1]))
    assert len(bits) == 1
    data = np.ones(1 << 21, np.float32)
    data[0], data[-1] = 2.0 ** 60, -(2.0 ** 60)
    (got,), compiled = run_compiled(graphc.tensor(data).sum())
    assert int(np.asarray(got).view(np.uint32)) in bits
    nodes = [graphc.tensor(data).sum()._node]
    _, args = structural_key(nodes)
    values = [_runtime_value(a) for a in args]
    program = compile_outputs(nodes, args).program
    results = {program.run(values)[0].tobytes() for _ in range(50)}
    assert results == {np.asarray(got).tobytes()}
    # Most ones survive (only those in the first and last blocks meet a 2**60).
    assert 0.9 * (1 << 21) < float(got) <= (1 << 21)
