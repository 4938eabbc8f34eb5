"""Samplers with MegEngine's arguments: indices, world_size/rank sharding, seeds,
sampling with replacement by weights, Infinite and StreamSampler."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.data import (
    Infinite,
    RandomSampler,
    ReplacementSampler,
    SequentialSampler,
    StreamSampler,
)


def _flat(sampler) -> list[int]:
    return [i for batch in sampler for i in batch]


def test_sequential_with_indices_and_drop_last() -> None:
    s = SequentialSampler(range(10), batch_size=2, indices=[9, 3, 5])
    assert list(s) == [[9, 3], [5]] and len(s) == 2
    s = SequentialSampler(range(10), batch_size=2, indices=[9, 3, 5], drop_last=True)
    assert list(s) == [[9, 3]] and len(s) == 1
    with pytest.raises(ValueError, match="indices must be a sequence"):
        SequentialSampler(range(3), indices=5)


def test_sharding_gives_each_rank_a_disjoint_share_of_one_order() -> None:
    # 10 items, 3 ranks: each takes 4; the order is padded by repeating its start.
    shares = [_flat(RandomSampler(range(10), batch_size=3, world_size=3, rank=r))
              for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]
    merged = sorted(i for s in shares for i in s)
    assert set(merged) == set(range(10)) and len(merged) == 12  # two repeated
    assert len(RandomSampler(range(10), batch_size=3, world_size=3, rank=0)) == 2
    seq = [_flat(SequentialSampler(range(5), world_size=2, rank=r)) for r in range(2)]
    assert seq == [[0, 2, 4], [1, 3, 0]]
    with pytest.raises(ValueError, match="rank must be an int in \\[0, world_size=2\\)"):
        SequentialSampler(range(5), world_size=2, rank=2)


def test_random_sampler_seeds_and_indices() -> None:
    a = RandomSampler(range(50), batch_size=50, seed=3)
    b = RandomSampler(range(50), batch_size=50, seed=3)
    first_a, first_b = _flat(a), _flat(b)
    assert first_a == first_b and sorted(first_a) == list(range(50))
    assert _flat(a) != first_a  # a new order each pass
    sub = _flat(RandomSampler(range(50), batch_size=4, indices=[7, 8, 9], seed=0))
    assert sorted(sub) == [7, 8, 9]
    graphc.random.seed(7)
    x = _flat(RandomSampler(range(20), batch_size=5))
    graphc.random.seed(7)
    assert _flat(RandomSampler(range(20), batch_size=5)) == x  # unseeded follows graphc


def test_passes_repeat_in_sequence_under_one_seed() -> None:
    a = RandomSampler(range(30), batch_size=30, seed=9)
    b = RandomSampler(range(30), batch_size=30, seed=9)
    assert [_flat(a) for _ in range(3)] == [_flat(b) for _ in range(3)]


def test_replacement_sampler_follows_weights() -> None:
    s = ReplacementSampler(range(3), batch_size=100, num_samples=3000, weights=[1, 2, 7],
                           seed=0)
    counts = np.bincount(_flat(s), minlength=3) / 3000
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.7], atol=0.03)  # sd <= 0.009
    assert len(s) == 30
    uniform = np.bincount(_flat(ReplacementSampler(range(4), 50, num_samples=4000, seed=1)))
    np.testing.assert_allclose(uniform / 4000, 0.25, atol=0.03)
    with pytest.raises(ValueError, match="one entry per item"):
        ReplacementSampler(range(3), weights=[1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        ReplacementSampler(range(2), weights=[1, -1])


def test_infinite_restarts_its_sampler() -> None:
    inf = Infinite(RandomSampler(range(4), batch_size=3, seed=0))
    it = iter(inf)
    batches = [next(it) for _ in range(6)]
    assert [len(b) for b in batches] == [3, 1] * 3
    assert sorted(batches[0] + batches[1]) == [0, 1, 2, 3]
    assert batches[:2] != batches[2:4]  # a new order each time round
    assert inf.batch_size == 3 and len(inf) == np.iinfo(np.int64).max
    with pytest.raises(TypeError, match="MapSampler"):
        Infinite([0, 1])


def test_stream_sampler_and_batch_size_errors() -> None:
    it = iter(StreamSampler(batch_size=2))
    assert [next(it), next(it)] == [[0, 1], [0, 1]]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            SequentialSampler(range(3), batch_size=bad)
