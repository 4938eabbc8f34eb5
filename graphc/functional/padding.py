"""``pad``: constant, reflect and edge padding, with MegEngine's signature.

The result is one ``pad`` node (:mod:`graphc.ops.pad`), a movement op: a consumer kernel
reads the input through its index map, so padding fuses and copies nothing.

>>> import graphc, graphc.functional as F
>>> F.pad(graphc.tensor([1., 2., 3.]), ((1, 2),), mode="reflect").numpy()
array([2., 1., 2., 3., 2., 1.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir import ShapeError, user_location
from ..ops import apply
from ..ops.pad import fill_value
from ..tensor import Tensor
from ._operands import tensor_of, wrap
from .tensor import full

__all__ = ["pad"]

# MegEngine's names (case-insensitive) → the op's modes.
_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge"}


def _widths(pad_width: Any, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """One (before, after) pair per axis: MegEngine pads the leading axes listed."""
    def bad(why: str) -> ShapeError:
        return ShapeError(f"pad: {why}; pad_width must be a sequence of (before, after) "
                          f"pairs of non-negative ints, one per leading axis of the input "
                          f"of shape {shape}, got {pad_width!r} ({user_location()})")

    if not isinstance(pad_width, Sequence) or isinstance(pad_width, str):
        raise bad("not a sequence")
    pairs = []
    for pair in pad_width:
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise bad(f"{pair!r} is not a (before, after) pair")
        if not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in pair):
            raise bad(f"{pair!r} holds a non-integer width")
        if pair[0] < 0 or pair[1] < 0:
            raise bad(f"{tuple(pair)} holds a negative width")
        pairs.append((int(pair[0]), int(pair[1])))
    if len(pairs) > len(shape):
        raise bad(f"{len(pairs)} pairs for a tensor of {len(shape)} dimensions")
    return tuple(pairs) + ((0, 0),) * (len(shape) - len(pairs))


def pad(src: Any, pad_width: Sequence[Sequence[int]], mode: str = "constant",
        constant_value: float = 0.0) -> Tensor:
    """Pad ``src`` by ``pad_width[k] = (before, after)`` elements along axis ``k``.

    ``mode``: ``"constant"`` (fill with ``constant_value``, cast to the input's dtype),
    ``"reflect"`` (mirror without repeating the edge; widths must be smaller than the
    axis) or ``"replicate"``/``"edge"`` (repeat the edge element). Axes past the pairs
    given are not padded. Differentiable in every mode.

    >>> import graphc, graphc.functional as F
    >>> x = graphc.tensor([[1, 2], [3, 4]])
    >>> F.pad(x, ((0, 1), (1, 0)), constant_value=9).numpy().tolist()
    [[9, 1, 2], [9, 3, 4], [9, 9, 9]]
    >>> F.pad(x, ((1, 1),), mode="edge").numpy().tolist()
    [[1, 2], [1, 2], [3, 4], [3, 4]]
    """
    x = tensor_of(src)
    if not isinstance(mode, str) or mode.lower() not in _MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, _MODES))}, got "
                         f"{mode!r} ({user_location()})")
    op_mode = _MODES[mode.lower()]
    if x.ndim == 0:
        raise ShapeError(f"pad: cannot pad a 0-d tensor ({user_location()})")
    pads = _widths(pad_width, x.shape)
    if not any(b or a for b, a in pads):
        return wrap(x._node)  # a new handle: an in-place op on it must not rebind src
    value = fill_value(constant_value if op_mode == "constant" else 0, x.dtype)
    if op_mode == "constant" and x.size == 0:  # nothing to read: all fill
        shape = tuple(b + n + a for (b, a), n in zip(pads, x.shape))
        return full(shape, value, x.dtype, x._node.type.device)
    return wrap(apply("pad", [x._node], pads=pads, mode=op_mode, value=value))
