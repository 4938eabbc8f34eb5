"""Collators: turn a list of samples into one batch of stacked NumPy arrays."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Collator", "default_collate"]


def _frozen(array: np.ndarray) -> np.ndarray:
    # Read-only, so graphc.tensor(batch) shares the array instead of copying it each step.
    array.flags.writeable = False
    return array


class Collator:
    """MegEngine's default collator: stack the samples of a batch field by field.

    Arrays and numbers are stacked along a new first axis, strings stay a list, a dict's
    values and a tuple's fields are collated one by one (a tuple of fields comes back).
    The stacked arrays are read-only (``batch.copy()`` gives a writable one).

    >>> xs, ys = Collator().apply([(np.ones(2), 0), (np.zeros(2), 1)])
    >>> xs.shape, ys.tolist()
    ((2, 2), [0, 1])
    """

    def apply(self, inputs: Sequence[Any]) -> Any:
        """The batch made of the samples ``inputs``."""
        if not len(inputs):
            raise ValueError("Collator: a batch needs at least one sample")
        first = inputs[0]
        if isinstance(first, np.ndarray) or isinstance(first, (numbers.Number, np.generic)):
            shapes = {np.shape(s) for s in inputs}
            if len(shapes) > 1:
                raise ValueError(f"Collator: samples in one batch have different shapes "
                                 f"{sorted(shapes)}; resize or pad them (a transform) first")
            return _frozen(np.ascontiguousarray(np.stack([np.asarray(s) for s in inputs])))
        if isinstance(first, str):
            return list(inputs)
        if isinstance(first, Mapping):
            return {key: self.apply([s[key] for s in inputs]) for key in first}
        if isinstance(first, (tuple, list)):
            width = len(first)
            if any(len(s) != width for s in inputs):
                raise ValueError("Collator: samples in one batch have different numbers of "
                                 "fields")
            fields = tuple(self.apply([s[i] for s in inputs]) for i in range(width))
            return type(first)(*fields) if hasattr(first, "_fields") else fields
        raise TypeError(f"Collator: cannot batch samples of type {type(first).__name__} "
                        f"(expected arrays, numbers, str, dicts or tuples of them)")


def default_collate(samples: list[Any]) -> tuple[Any, ...]:
    """Stack samples field by field: a list of ``(x, y)`` becomes ``(xs, ys)`` (a sample
    that is not a tuple gives a 1-tuple).

    >>> default_collate([(np.ones(2), 0), (np.zeros(2), 1)])[1]
    array([0, 1])
    """
    if isinstance(samples[0], (tuple, list)):
        return tuple(Collator().apply(samples))
    return (Collator().apply(samples),)
