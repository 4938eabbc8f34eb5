"""Datasets: map-style (``__getitem__`` and ``__len__``) and stream-style (``__iter__``)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["ArrayDataset", "ConcatDataset", "Dataset", "StreamDataset"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    >>> class Squares(Dataset):
    ...     def __getitem__(self, i): return (i, i * i)
    ...     def __len__(self): return 4
    >>> len(Squares()), Squares()[3]
    (4, (3, 9))
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class StreamDataset:
    """Base class of stream-style datasets: subclasses define ``__iter__``, yielding one
    sample at a time (use it with a :class:`~graphc.data.StreamSampler`).

    >>> class Count(StreamDataset):
    ...     def __iter__(self): return iter([(0,), (1,), (2,)])
    >>> list(Count())
    [(0,), (1,), (2,)]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __getitem__(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} is a stream: iterate over it, it has no "
                        f"items by index")

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} is a stream: it has no length")


class ArrayDataset(Dataset):
    """Rows of one or more equally long arrays: item ``i`` is ``(a[i], b[i], ...)``.

    >>> ds = ArrayDataset(np.arange(6).reshape(3, 2), np.array([0, 1, 0]))
    >>> x, y = ds[1]
    >>> len(ds), x.tolist(), int(y)
    (3, [2, 3], 1)
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"ArrayDataset: array {i} is 0-d; arrays need a first axis")
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"ArrayDataset: arrays have different lengths {lengths}")

    def __getitem__(self, index: int) -> tuple:
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class ConcatDataset(Dataset):
    """Several map-style datasets one after another.

    >>> ds = ConcatDataset([ArrayDataset(np.arange(2)), ArrayDataset(np.arange(10, 13))])
    >>> len(ds), int(ds[3][0])
    (5, 11)
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        for i, ds in enumerate(self.datasets):
            if isinstance(ds, StreamDataset) or not hasattr(ds, "__len__"):
                raise TypeError(f"ConcatDataset: dataset {i} ({type(ds).__name__}) is not "
                                f"map-style (it needs __getitem__ and __len__)")
        self.cumulative_sizes = np.cumsum([len(ds) for ds in self.datasets]).tolist()

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} items")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]
