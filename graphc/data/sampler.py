"""Samplers: which indices make up each batch (MegEngine's samplers own ``batch_size``)."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np

__all__ = ["MapSampler", "RandomSampler", "SequentialSampler"]


class MapSampler:
    """Base class: yields lists of dataset indices, ``batch_size`` at a time.

    ``drop_last`` drops a final batch that is smaller than ``batch_size``.
    """

    def __init__(self, dataset: Sized, batch_size: int = 1, drop_last: bool = False) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{type(self).__name__}: batch_size must be a positive int, "
                             f"got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_samples = len(dataset)

    def sample(self) -> list[int]:
        """The order of indices for one pass over the dataset (subclasses)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        order = self.sample()
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)


class SequentialSampler(MapSampler):
    """Indices in order: ``[0, 1, ...], [b, b+1, ...], ...``.

    >>> list(SequentialSampler(range(5), batch_size=2))
    [[0, 1], [2, 3], [4]]
    """

    def sample(self) -> list[int]:
        return list(range(self.num_samples))


class RandomSampler(MapSampler):
    """A new random order each pass; ``seed`` makes the sequence of orders repeat.

    Pass ``k`` uses Philox keyed by ``(seed, k)``. Without a seed, one is drawn from
    :mod:`graphc.random`, so :func:`graphc.random.seed` repeats the shuffles too.

    >>> s = RandomSampler(range(6), batch_size=3, seed=1)
    >>> sorted(i for batch in s for i in batch)
    [0, 1, 2, 3, 4, 5]
    """

    def __init__(self, dataset: Sized, batch_size: int = 1, drop_last: bool = False,
                 seed: int | None = None) -> None:
        super().__init__(dataset, batch_size, drop_last)
        if seed is None:
            from .. import random

            seed = random.spawn_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
                0 <= seed < 2 ** 128):
            raise ValueError(f"RandomSampler: seed must be an int in [0, 2**128), got {seed!r}")
        self.seed = int(seed)
        self.epoch = 0

    def sample(self) -> list[int]:
        bits = np.random.Philox(key=self.seed, counter=self.epoch << 128)
        self.epoch += 1
        return np.random.Generator(bits).permutation(self.num_samples).tolist()
