"""``graphc.placeholder``: a typed input slot of a define-then-run function.

A dimension may be ``None`` (or a name, a string): the function then accepts any size
there and specialises its Program per concrete size at call time, while its kernels stay
shape-generic and shared. Every ``None`` dimension stands for the same size (the batch);
a string names a size of its own, shared by every dimension with that name.

Graphs are built with concrete types, so a symbolic dimension is built with a *probe*
size, a large prime no real model uses; :mod:`graphc.jit.specialize` later substitutes
the call's size for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dtypes
from ..device import canonical_device
from ..ir import Node, placeholder_node
from ..tensor import Tensor
from .errors import TraceError

# Probe sizes for symbolic dimensions, by symbol (None is the symbol "?"): primes near
# 10^4, far from common layer widths and distinct so that products can be factored.
_PROBE_PRIMES = (10007, 10009, 10037, 10039, 10061, 10067, 10069, 10079, 10091, 10093)
_probes: dict[str, int] = {}
_names = iter(range(1 << 30))

BATCH = "?"  # the symbol of every None dimension


def probe_for(symbol: str) -> int:
    """The probe size standing for ``symbol`` while graphs are built."""
    probe = _probes.get(symbol)
    if probe is None:
        if len(_probes) >= len(_PROBE_PRIMES):
            raise ValueError(f"placeholder: at most {len(_PROBE_PRIMES)} distinct symbolic "
                             f"dimension names are supported, got {sorted(_probes)} and "
                             f"{symbol!r}")
        probe = _probes[symbol] = _PROBE_PRIMES[len(_probes)]
    return probe


def probe_table() -> dict[int, str]:
    """probe size → symbol, for every symbolic dimension made in this process."""
    return {p: s for s, p in _probes.items()}


def symbolic_probes(nodes: Sequence[Node]) -> dict[int, str]:
    """probe size → symbol for the symbolic dimensions of placeholders ``nodes``."""
    table = probe_table()
    return {d: table[d] for n in nodes for d in n.type.shape if d in table}


def placeholder(shape: Sequence[int | str | None], dtype: Any = "float32",
                name: str | None = None, device: Any = None) -> Tensor:
    """An input of a define-then-run function: a Tensor with a type and no value.

    Build outputs from placeholders with ordinary graphc code, then compile them with
    :func:`graphc.function`. A ``None`` dimension accepts any size at call time.

    >>> import graphc
    >>> x = graphc.placeholder((None, 3), name="x")
    >>> f = graphc.function([x], (x * 2).sum(axis=1))
    >>> f(np.ones((2, 3), np.float32))
    array([6., 6.], dtype=float32)
    """
    if isinstance(shape, (int, np.integer)) or shape is None:
        shape = (shape,)
    dims = []
    for d in shape:
        if d is None or isinstance(d, str):
            dims.append(probe_for(BATCH if d is None else d))
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            dims.append(int(d))
        else:
            raise ValueError(f"placeholder: dimensions must be non-negative ints, None or "
                             f"names, got {tuple(shape)!r}")
    dtype = dtypes.canonical(dtype)
    name = name if name is not None else f"input{next(_names)}"
    node = placeholder_node(tuple(dims), dtype, canonical_device(device), name)
    return Tensor._wrap(node)


def placeholder_name(node: Node) -> str:
    """The name a placeholder was given."""
    return node.attrs["name"]


def display_shape(shape: tuple[int, ...], table: dict[int, str]) -> tuple:
    """``shape`` with probe sizes (``table``: probe → symbol) shown as their symbols
    (None for the batch)."""
    out = []
    for d in shape:
        symbol = table.get(d)
        out.append(d if symbol is None else (None if symbol == BATCH else symbol))
    return tuple(out)


def bind_sizes(nodes: Sequence[Node], shapes: Sequence[tuple[int, ...]],
               names: Sequence[str], table: dict[int, str]) -> tuple[tuple[int, int], ...]:
    """``(probe, size)`` pairs binding every symbolic dimension of ``nodes`` (``table``:
    probe → symbol) to the concrete ``shapes`` given; TraceError when they disagree."""
    bound: dict[int, tuple[int, str]] = {}
    for node, shape, name in zip(nodes, shapes, names):
        for axis, (want, got) in enumerate(zip(node.type.shape, shape)):
            if want not in table:
                continue
            seen = bound.get(want)
            if seen is None:
                bound[want] = (int(got), f"{name}.shape[{axis}]")
            elif seen[0] != got:
                symbol = table[want]
                what = "None dimensions" if symbol == BATCH else f"dimensions named {symbol!r}"
                raise TraceError(f"{what} must have one size per call: {seen[1]} is "
                                 f"{seen[0]} but {name}.shape[{axis}] is {got}; name "
                                 f"independent sizes with strings, e.g. "
                                 f"placeholder(('batch', 'seq'))")
    return tuple(sorted((p, s) for p, (s, _) in bound.items()))


def check_shape(node: Node, shape: tuple[int, ...], name: str, fn_name: str,
                table: dict[int, str]) -> None:
    """TraceError unless ``shape`` fits the placeholder (symbolic dimensions fit any size)."""
    want = node.type.shape
    if len(want) == len(shape) and all(w in table or w == g for w, g in zip(want, shape)):
        return
    raise TraceError(f"{fn_name}: input {name!r} expects shape "
                     f"{display_shape(want, table)}, got {tuple(shape)}")
