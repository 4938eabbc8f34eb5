"""Value types of the IR: ``TensorType`` and frozen, JSON-serialisable ``Attrs``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np


class TensorType(NamedTuple):
    """The static type of a node's single output.

    >>> TensorType((2, 3), np.dtype("float32"), "cpux").size
    6
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    device: str

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return TensorType(tuple(shape), self.dtype, self.device)

    def with_dtype(self, dtype) -> TensorType:
        return TensorType(self.shape, np.dtype(dtype), self.device)

    def __str__(self) -> str:
        return f"{self.dtype.name}{list(self.shape)}@{self.device}"


def _freeze(value: Any) -> Any:
    """Turn an attribute value into a hashable, JSON-representable value."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} is not serialisable")


class Attrs(Mapping):
    """An immutable, hashable mapping of op attributes (JSON-serialisable values only).

    >>> a = Attrs({"axes": [0, 1], "keepdims": False})
    >>> a["axes"], hash(a) == hash(Attrs(keepdims=False, axes=(0, 1)))
    ((0, 1), True)
    """

    __slots__ = ("_items", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None, **kw: Any) -> None:
        merged = dict(data or {}, **kw)
        self._items = tuple(sorted((k, _freeze(v)) for k, v in merged.items()))
        self._hash = hash(self._items)

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Attrs):
            return self._items == other._items
        return NotImplemented

    def items_tuple(self) -> tuple:
        return self._items

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k}={v!r}" for k, v in self._items) + "}"


EMPTY_ATTRS = Attrs()
