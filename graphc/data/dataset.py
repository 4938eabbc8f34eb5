"""Map-style datasets: anything with ``__getitem__(index)`` and ``__len__``."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ArrayDataset", "Dataset"]


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
