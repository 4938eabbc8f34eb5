"""DataLoader: batches of NumPy arrays from a dataset, in the main process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .dataset import Dataset
from .sampler import MapSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_collate"]


def default_collate(samples: list[Any]) -> tuple[np.ndarray, ...]:
    """Stack samples field by field: a list of ``(x, y)`` becomes ``(xs, ys)``.

    The batch arrays are read-only, so ``graphc.tensor(batch)`` shares them instead of
    copying them every step (``batch.copy()`` gives a writable one).

    >>> default_collate([(np.ones(2), 0), (np.zeros(2), 1)])[1]
    array([0, 1])
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        width = len(first)
        if any(len(s) != width for s in samples):
            raise ValueError("DataLoader: samples in one batch have different numbers of fields")
        fields = [np.stack([np.asarray(s[i]) for s in samples]) for i in range(width)]
    else:
        fields = [np.stack([np.asarray(s) for s in samples])]
    for field in fields:
        field.flags.writeable = False
    return tuple(fields)


class DataLoader:
    """Iterate over a dataset in batches of NumPy arrays (a tuple per batch).

    ``shuffle`` draws a new order each epoch (reproducible with ``seed``, or under
    :func:`graphc.random.seed` when ``seed`` is None); ``drop_last`` drops a short final
    batch. Pass ``sampler`` (MegEngine's style) instead of ``batch_size``/``shuffle``/
    ``drop_last`` to choose the indices yourself. No worker processes are used.

    >>> from graphc.data import ArrayDataset
    >>> ds = ArrayDataset(np.arange(5), np.arange(5) * 10)
    >>> [b[1].tolist() for b in DataLoader(ds, batch_size=2)]
    [[0, 10], [20, 30], [40]]
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 sampler: MapSampler | None = None,
                 collator: Callable[[list[Any]], Any] | None = None) -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader: dataset must define __getitem__ and __len__, got "
                            f"{type(dataset).__name__}")
        if sampler is not None:
            if batch_size != 1 or shuffle or drop_last or seed is not None:
                raise ValueError("DataLoader: pass either a sampler or batch_size/shuffle/"
                                 "drop_last/seed, not both (the sampler owns them)")
        elif shuffle:
            sampler = RandomSampler(dataset, batch_size, drop_last, seed=seed)
        else:
            sampler = SequentialSampler(dataset, batch_size, drop_last)
        self.dataset = dataset
        self.sampler = sampler
        self.collator = collator or default_collate

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    def __iter__(self) -> Iterator[Any]:
        for indices in self.sampler:
            yield self.collator([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        return len(self.sampler)
