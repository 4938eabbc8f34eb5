"""The transform protocol: ``apply(sample)`` and ``apply_batch(samples)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PseudoTransform", "Transform"]


class Transform:
    """Base class of transforms: subclasses define ``apply(input)`` for one sample;
    ``apply_batch`` applies it to each sample of a batch.

    >>> class Double(Transform):
    ...     def apply(self, input): return input * 2
    >>> Double().apply_batch([1, 2])
    (2, 4)
    """

    def apply(self, input: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define apply()")

    def apply_batch(self, inputs: Sequence[Any]) -> tuple:
        return tuple(self.apply(input) for input in inputs)


class PseudoTransform(Transform):
    """The identity: the DataLoader's transform when none is given.

    >>> PseudoTransform().apply((1, 2))
    (1, 2)
    """

    def apply(self, input: Any) -> Any:
        return input
