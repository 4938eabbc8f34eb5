"""Samplers: which indices make up each batch (MegEngine's samplers own ``batch_size``).

A map sampler yields lists of dataset indices; with ``world_size > 1`` each rank takes
every ``world_size``-th index of the padded order (MegEngine's sharding), so the ranks see
disjoint parts of one shared order. Random orders come from Philox streams keyed by
``(seed, epoch)``: the same seed repeats the same sequence of orders.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

__all__ = ["Infinite", "MapSampler", "RandomSampler", "ReplacementSampler", "Sampler",
           "SequentialSampler", "StreamSampler"]


class Sampler:
    """Base class of all samplers: an iterable of batches of indices."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _check_int(owner: str, name: str, value: Any, low: int, high: int | None = None,
               what: str = "a positive int") -> int:
    """``value`` as an int in ``[low, high)`` (no upper bound when ``high`` is None), else
    ValueError saying it must be ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value >= high):
        raise ValueError(f"{owner}: {name} must be {what}, got {value!r}")
    return int(value)


def _check_seed(owner: str, seed: Any) -> int:
    if seed is None:
        from .. import random  # an unseeded sampler follows graphc.random.seed

        return random.spawn_seed()
    return _check_int(owner, "seed", seed, 0, 2 ** 128, "an int in [0, 2**128)")


class MapSampler(Sampler):
    """Base class of samplers for map-style datasets: yields lists of indices,
    ``batch_size`` at a time.

    ``drop_last`` drops a final short batch; ``num_samples`` (default ``len(dataset)``)
    is how many indices one pass draws over all ranks; ``world_size``/``rank`` shard
    them (rank ``r`` takes positions ``r, r + world_size, ...`` of the order, padded by
    repeating its start so every rank gets ``ceil(num_samples / world_size)``).
    ``seed`` fixes the random orders (subclasses that draw); without one, a seed is drawn
    from :mod:`graphc.random`, and with ``world_size > 1`` it is 0 so all ranks agree.

    >>> list(SequentialSampler(range(5), batch_size=2, world_size=2, rank=1))
    [[1, 3], [0]]
    """

    def __init__(self, dataset: Sized, batch_size: int = 1, drop_last: bool = False,
                 num_samples: int | None = None, world_size: int | None = None,
                 rank: int | None = None, seed: int | None = None) -> None:
        owner = type(self).__name__
        self.batch_size = _check_int(owner, "batch_size", batch_size, 1)
        if not isinstance(drop_last, bool):
            raise ValueError(f"{owner}: drop_last must be a bool, got {drop_last!r}")
        self.world_size = 1 if world_size is None else _check_int(
            owner, "world_size", world_size, 1)
        self.rank = 0 if rank is None else _check_int(
            owner, "rank", rank, 0, self.world_size,
            f"an int in [0, world_size={self.world_size})")
        self.dataset = dataset
        self.drop_last = drop_last
        self.total_samples = len(dataset) if num_samples is None else _check_int(
            owner, "num_samples", num_samples, 0, what="a non-negative int")
        # Each rank's share (MegEngine's num_samples is this per-rank count).
        self.num_samples = math.ceil(self.total_samples / self.world_size)
        self.seed = _check_seed(owner, 0 if seed is None and self.world_size > 1 else seed)
        self.epoch = 0

    def _generator(self) -> np.random.Generator:
        """A NumPy Generator on this pass's own Philox stream (advances the epoch)."""
        bits = np.random.Philox(key=self.seed, counter=self.epoch << 128)
        self.epoch += 1
        return np.random.Generator(bits)

    def sample(self) -> list[int]:
        """The order of indices for one pass over the dataset (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} must define sample()")

    def scatter(self, indices: list[int]) -> list[int]:
        """This rank's share of ``indices``: pad to ``num_samples * world_size`` by
        repeating the start, then take every ``world_size``-th from ``rank``."""
        total = self.num_samples * self.world_size
        while len(indices) < total and indices:
            indices = indices + indices[:total - len(indices)]
        return indices[self.rank:total:self.world_size]

    def batch(self) -> Iterator[list[int]]:
        """One pass's batches of indices."""
        indices = list(self.sample())
        if self.world_size > 1:
            indices = self.scatter(indices)
        for start in range(0, len(indices), self.batch_size):
            batch = indices[start:start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __iter__(self) -> Iterator[list[int]]:
        return self.batch()

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)


def _check_indices(owner: str, indices: Any) -> list[int] | None:
    if indices is None:
        return None
    if not isinstance(indices, Sequence) and not isinstance(indices, np.ndarray):
        raise ValueError(f"{owner}: indices must be a sequence of ints, got "
                         f"{type(indices).__name__}")
    return [int(i) for i in indices]


class SequentialSampler(MapSampler):
    """Indices in order: ``[0, 1, ...], [b, b+1, ...], ...``, or those of ``indices``.

    >>> list(SequentialSampler(range(5), batch_size=2))
    [[0, 1], [2, 3], [4]]
    >>> list(SequentialSampler(range(5), batch_size=2, indices=[4, 0, 2]))
    [[4, 0], [2]]
    """

    def __init__(self, dataset: Sized, batch_size: int = 1, drop_last: bool = False,
                 indices: Sequence[int] | None = None, world_size: int | None = None,
                 rank: int | None = None) -> None:
        self.indices = _check_indices(type(self).__name__, indices)
        super().__init__(dataset, batch_size, drop_last,
                         None if self.indices is None else len(self.indices), world_size,
                         rank, seed=0)

    def sample(self) -> list[int]:
        return list(range(len(self.dataset))) if self.indices is None else list(self.indices)


class RandomSampler(MapSampler):
    """A new random order each pass (of all indices, or of ``indices``); ``seed`` makes
    the sequence of orders repeat.

    Pass ``k`` uses Philox keyed by ``(seed, k)``. Without a seed, one is drawn from
    :mod:`graphc.random`, so :func:`graphc.random.seed` repeats the shuffles too.

    >>> s = RandomSampler(range(6), batch_size=3, seed=1)
    >>> sorted(i for batch in s for i in batch)
    [0, 1, 2, 3, 4, 5]
    """

    def __init__(self, dataset: Sized, batch_size: int = 1, drop_last: bool = False,
                 indices: Sequence[int] | None = None, world_size: int | None = None,
                 rank: int | None = None, seed: int | None = None) -> None:
        self.indices = _check_indices(type(self).__name__, indices)
        super().__init__(dataset, batch_size, drop_last,
                         None if self.indices is None else len(self.indices), world_size,
                         rank, seed)

    def sample(self) -> list[int]:
        gen = self._generator()
        if self.indices is None:
            return gen.permutation(len(self.dataset)).tolist()
        return [self.indices[i] for i in gen.permutation(len(self.indices))]


class ReplacementSampler(MapSampler):
    """``num_samples`` indices drawn with replacement, uniformly or by ``weights``
    (one non-negative weight per item, normalised to probabilities).

    >>> s = ReplacementSampler(range(3), batch_size=4, weights=[0, 0, 1], seed=0)
    >>> list(s)
    [[2, 2, 2]]
    """

    def __init__(self, dataset: Sized, batch_size: int = 1, drop_last: bool = False,
                 num_samples: int | None = None, weights: Sequence[float] | None = None,
                 world_size: int | None = None, rank: int | None = None,
                 seed: int | None = None) -> None:
        super().__init__(dataset, batch_size, drop_last, num_samples, world_size, rank, seed)
        self.weights = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(dataset),):
                raise ValueError(f"ReplacementSampler: weights need one entry per item "
                                 f"({len(dataset)}), got shape {w.shape}")
            if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError("ReplacementSampler: weights must be finite, non-negative "
                                 "and not all zero")
            self.weights = w / w.sum()

    def sample(self) -> list[int]:
        return self._generator().choice(len(self.dataset), size=self.total_samples,
                                        replace=True, p=self.weights).tolist()


class Infinite(MapSampler):
    """Repeat ``sampler`` without end (a new order each pass for random samplers).

    >>> it = iter(Infinite(SequentialSampler(range(3), batch_size=2)))
    >>> [next(it) for _ in range(3)]
    [[0, 1], [2], [0, 1]]
    """

    def __init__(self, sampler: MapSampler) -> None:
        if not isinstance(sampler, MapSampler):
            raise TypeError(f"Infinite: expected a MapSampler, got {type(sampler).__name__}")
        self.sampler = sampler

    def __getattr__(self, name: str) -> Any:
        if name == "sampler":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.sampler, name)

    def batch(self) -> Iterator[list[int]]:
        while True:
            empty = True
            for indices in self.sampler:
                empty = False
                yield indices
            if empty:
                raise ValueError("Infinite: the wrapped sampler yields no batches")

    def __len__(self) -> int:
        return int(np.iinfo(np.int64).max)


class StreamSampler(Sampler):
    """For a :class:`~graphc.data.dataset.StreamDataset`: ``batch_size`` items per batch,
    without end (the stream decides when to stop).

    >>> next(iter(StreamSampler(batch_size=3)))
    [0, 1, 2]
    """

    def __init__(self, batch_size: int = 1) -> None:
        self.batch_size = _check_int("StreamSampler", "batch_size", batch_size, 1)

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            yield list(range(self.batch_size))
