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
from graphc.codegen import cpu_schedule, cpu_whole
from graphc.ir import structural_key
from graphc.runtime.compiler import _runtime_value, compile_outputs
from tests.runtime.compiled import assert_same

rng = np.random.default_rng(14)


@pytest.fixture
def small_blocks(monkeypatch):
    """Parallel kernels and many blocks already at test sizes."""
    monkeypatch.setattr(cpu_schedule, "PARALLEL_MIN_ELEMENTS", 1024)
    monkeypatch.setattr(cpu_whole, "BLOCK_POINTS", 64)


def blocked(x, near_one):
    """Every float whole reduction: x's three in one kernel, near_one's in another."""
    return x.sum(), x.max(), F.argmin(x), near_one.prod()


@pytest.mark.parametrize("nan_at", [None, 0, 2500])
def test_blocked_reductions_match_the_reference(small_blocks, nan_at):
    data = rng.standard_normal(5000).astype(np.float32)
    data[rng.integers(0, data.size, 3)] = -6.0  # tied minima: argmin takes the first
    if nan_at is not None:  # NaN propagates; argmin gives the first NaN
        data[nan_at] = np.nan
    compiled = assert_same(*blocked(graphc.tensor(data), graphc.tensor(1 + data / 1000)))
    source = "".join(k.source for k in compiled.kernels)  # x's three, near_one's prod
    assert source.count("for part in prange(nb):") == 4, source  # argmin: 1 + a search
    assert not re.search(r"acc\d+ [+*]= ", source), source  # no numba prange reduction


@pytest.mark.parametrize("dtype, shape", [("float64", (97, 61)), ("float16", (5000,))])
def test_blocked_reductions_of_other_dtypes_and_ranks(small_blocks, dtype, shape):
    x = graphc.tensor(rng.standard_normal(shape).astype(dtype), dtype=dtype)
    compiled = assert_same((x * x).sum(), x.max())
    assert compiled.kernels[0].source.count("for part in prange(nb):") == 2


def test_integer_and_bool_whole_reductions_stay_exact(small_blocks):
    a = graphc.tensor(rng.integers(-1000, 1000, 5000).astype(np.int32))
    assert_same(a.sum(), F.argmax(a > 990))


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
    """A parallel kernel (2**21 >= PARALLEL_MIN_ELEMENTS) under NUMBA_NUM_THREADS=1 and 2,
    in subprocesses, and 50 calls here. numba's prange reduction gave each thread's
    share its own partial, so the ones lost to 2**60 depended on the split."""
    assert 1 << 21 >= cpu_schedule.PARALLEL_MIN_ELEMENTS
    bits = set()
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), GRAPHC_BACKEND="compiled")
        out = subprocess.run([sys.executable, "-c", SUM], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
        assert out[0] == str(threads)
        bits.add(int(out[1]))
    assert len(bits) == 1
    data = np.ones(1 << 21, np.float32)
    data[0], data[-1] = 2.0 ** 60, -(2.0 ** 60)
    nodes = [graphc.tensor(data).sum()._node]
    _, args = structural_key(nodes)
    values = [_runtime_value(a) for a in args]
    program = compile_outputs(nodes, args).program
    results = {program.run(values)[0].tobytes() for _ in range(50)}
    assert len(results) == 1
    got = np.frombuffer(results.pop(), np.float32)[0]
    assert int(got.view(np.uint32)) in bits
    # Most ones survive (only those in the first and last blocks meet a 2**60).
    assert 0.9 * (1 << 21) < float(got) <= (1 << 21)
