"""Limits on what a loaded file may make graphc allocate, checked before allocating.

``graphc.load``, ``graphc.load_function`` and ``graphc run`` read sizes a file declares
(an array's shape, a zip member's decompressed size, a graph's node count, how deeply its
JSON nests) and refuse the file with a ``ValueError`` naming the limit when a declared
size is over it, before reading or allocating anything of that size. Each limit has an
environment variable and a :class:`LoadLimits` field (pass ``limits=`` to the loaders):

====================  ========================  =================================
field                 environment variable      default
====================  ========================  =================================
``max_bytes``         GRAPHC_LOAD_MAX_BYTES     16 GiB of arrays in one file
``max_elements``      GRAPHC_LOAD_MAX_ELEMENTS  2**31 elements in one array or node
``max_ratio``         GRAPHC_LOAD_MAX_RATIO     100: a compressed member expands at
                                                most 100 times (when over 64 MiB)
``max_depth``         GRAPHC_LOAD_MAX_DEPTH     100 levels of JSON nesting
``max_nodes``         GRAPHC_LOAD_MAX_NODES     1,000,000 nodes in a dumped graph
====================  ========================  =================================

Byte counts in the environment may end in K, M, G or T (powers of 1024).

>>> LoadLimits(max_depth=3).max_depth
3
>>> parse_json('{"a": [1, [2]]}', "manifest", LoadLimits())
{'a': [1, [2]]}
>>> try:
...     parse_json('[[[[1]]]]', "manifest", LoadLimits(max_depth=3))
... except LimitError as err:
...     print(err)
manifest nests 4 levels deep, over the limit of 3 (raise it with GRAPHC_LOAD_MAX_DEPTH=n or \
limits=graphc.LoadLimits(max_depth=n))
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Any

import numpy as np

__all__ = ["LimitError", "LoadLimits", "check_elements", "over", "parse_json"]

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
ENV = {"max_bytes": "GRAPHC_LOAD_MAX_BYTES", "max_elements": "GRAPHC_LOAD_MAX_ELEMENTS",
       "max_ratio": "GRAPHC_LOAD_MAX_RATIO", "max_depth": "GRAPHC_LOAD_MAX_DEPTH",
       "max_nodes": "GRAPHC_LOAD_MAX_NODES"}
DEFAULTS = {"max_bytes": 16 << 30, "max_elements": 1 << 31, "max_ratio": 100,
            "max_depth": 100, "max_nodes": 1_000_000}
# A compressed member this small may expand without limit (a zeroed optimizer state).
RATIO_FLOOR = 64 << 20


def _from_env(field: str) -> int:
    name = ENV[field]
    text = os.environ.get(name, "").strip()
    if not text:
        return DEFAULTS[field]
    match = re.fullmatch(r"(\d[\d_]*)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"{name}={text!r} is not a count (a whole number, for bytes "
                         f"optionally ending in K, M, G or T)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def _env_default(field: str) -> Any:
    return dataclasses.field(default_factory=lambda: _from_env(field))


@dataclasses.dataclass(frozen=True)
class LoadLimits:
    """The sizes a loaded file may declare. Fields left out come from the environment
    variables in the module docstring, else the defaults there.

    >>> import graphc, io
    >>> buf = io.BytesIO(); graphc.save({"w": [0.0] * 3}, buf); _ = buf.seek(0)
    >>> graphc.load(buf, limits=graphc.LoadLimits(max_bytes=1 << 30))
    {'w': [0.0, 0.0, 0.0]}
    """

    max_bytes: int = _env_default("max_bytes")
    max_elements: int = _env_default("max_elements")
    max_ratio: int = _env_default("max_ratio")
    max_depth: int = _env_default("max_depth")
    max_nodes: int = _env_default("max_nodes")

    def __post_init__(self) -> None:
        for field in ENV:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"LoadLimits.{field} must be a non-negative int, got "
                                 f"{value!r}")


class LimitError(ValueError):
    """A size a file declares is over a :class:`LoadLimits` limit."""


def over(what: str, field: str, limits: LoadLimits) -> LimitError:
    """The error for a declared size (``what`` says which) over a limit, saying how to
    raise the limit.

    >>> print(over("x.gc declares 9 nodes", "max_nodes", LoadLimits(max_nodes=5)))
    x.gc declares 9 nodes, over the limit of 5 (raise it with GRAPHC_LOAD_MAX_NODES=n or \
limits=graphc.LoadLimits(max_nodes=n))
    """
    return LimitError(f"{what}, over the limit of {getattr(limits, field)} (raise it with "
                      f"{ENV[field]}=n or limits=graphc.LoadLimits({field}=n))")


def check_elements(shape: Any, what: str, limits: LoadLimits) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints with at most ``max_elements`` elements
    (counted in Python ints, so a huge declared shape cannot overflow); LimitError if
    there are more, ValueError if it is not a shape.

    >>> check_elements([1000000, 1000000], "a draw", LoadLimits(max_elements=10**9))
    Traceback (most recent call last):
    ...
    graphc.limits.LimitError: a draw has shape (1000000, 1000000): 1000000000000 elements, \
over the limit of 1000000000 (raise it with GRAPHC_LOAD_MAX_ELEMENTS=n or \
limits=graphc.LoadLimits(max_elements=n))
    """
    if not isinstance(shape, (list, tuple)) or len(shape) > 64 or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))
            and d >= 0 for d in shape):
        raise ValueError(f"{what} has an invalid shape {str(shape)[:80]}: it must be a list "
                         f"of at most 64 non-negative ints")
    shape = tuple(int(d) for d in shape)
    count = math.prod(shape)
    if count > limits.max_elements:
        raise over(f"{what} has shape {shape}: {count} elements", "max_elements", limits)
    return shape


# A JSON string literal (the unrolled form: linear, no backtracking blow-up).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def json_depth(text: str | bytes) -> int:
    """How deeply ``text``'s arrays and objects nest, brackets inside strings aside;
    counted without recursion (NumPy over the bracket characters).

    >>> json_depth('{"a": "[[[", "b": [[1], 2]}')
    3
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if b'"' in data:
        data = _STRING.sub(b"", data)
    codes = np.frombuffer(data, np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(codes, (ord("]"), ord("}"))))
    return int(np.cumsum(steps).max(initial=0))


def parse_json(text: str | bytes, what: str, limits: LoadLimits) -> Any:
    """``json.loads(text)`` after checking its nesting is at most ``max_depth`` (so a
    deeply nested file is a ValueError naming the limit, never a RecursionError)."""
    depth = json_depth(text)
    if depth > limits.max_depth:
        raise over(f"{what} nests {depth} levels deep", "max_depth", limits)
    return json.loads(text)
