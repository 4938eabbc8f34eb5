"""Safe attribute values: what a loaded attribute may be, and how a value becomes source.

A dumped graph's attributes come from a file. :func:`check_attrs` validates them by type
and range, op by op, before the node is built: ``pad``'s ``value`` is a number, ``axes``
are ints within the input's rank, shapes are non-negative ints, a ``dtype`` is a name
from :data:`DTYPE_NAMES`, a ``mode`` one of the op's modes. Attributes of ops not in
:data:`OP_ATTRS` (composite ops a user declared) may only be numbers, bools, short
strings, None and tuples of these.

Generated kernels receive attribute values only through :func:`literal`, which writes
an int, float or bool as a Python number and refuses anything else: a value is never
pasted into kernel source as text.

>>> literal(3), literal(-0.5), literal(True), literal(float("-inf"))
('3', '-0.5', 'True', '-np.inf')
>>> literal("1) + evil(")
Traceback (most recent call last):
...
TypeError: a kernel literal must be an int, float or bool, got str '1) + evil('
>>> check_attrs("pad", {"pads": [[1, 0]], "mode": "constant", "value": "0"}, [1], 1)
Traceback (most recent call last):
...
ValueError: pad: attribute value='0' must be an int, float or bool
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir.device import canonical_device_name

__all__ = ["DTYPE_NAMES", "OP_ATTRS", "check_attrs", "literal"]

DTYPE_NAMES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                         "uint32", "uint64", "float16", "float32", "float64"})
MAX_RANK = 64
_MAX_INT = 1 << 62  # any int attribute: far beyond every real size, far from overflow


def literal(value: object) -> str:
    """``value`` as Python source for a number: ``repr`` of an int or float (``np.nan``,
    ``np.inf``, ``-np.inf`` for the non-finite ones), ``True``/``False`` for a bool;
    NumPy scalars count as their Python values. TypeError for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "np.nan"
        if math.isinf(number):
            return "np.inf" if number > 0 else "-np.inf"
        return repr(number)
    raise TypeError(f"a kernel literal must be an int, float or bool, got "
                    f"{type(value).__name__} {str(value)[:60]!r}")


class _Bad(ValueError):
    pass


def _int(v: Any, low: int = -_MAX_INT, high: int = _MAX_INT) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad("must be an int")
    if not low <= v <= high:
        raise _Bad(f"must be an int from {low} to {high}")
    return v


def _ints(v: Any, low: int = -_MAX_INT, high: int = _MAX_INT, count: int = MAX_RANK) -> tuple:
    try:
        if not isinstance(v, (list, tuple)) or len(v) > count:
            raise _Bad
        return tuple(_int(x, low, high) for x in v)
    except _Bad:
        span = "" if (low, high) == (-_MAX_INT, _MAX_INT) else f" from {low} to {high}"
        raise _Bad(f"must be a list of at most {count} ints{span}") from None


def _axis(v: Any, ndim: int) -> int:
    return _int(v, -max(ndim, 1), max(ndim, 1) - 1)


def _number(v: Any, ndim: int) -> bool | int | float:
    if not isinstance(v, (bool, int, float)) or (isinstance(v, int) and abs(v) > _MAX_INT):
        raise _Bad("must be an int, float or bool")
    return v


def _bool(v: Any, ndim: int) -> bool:
    if not isinstance(v, bool):
        raise _Bad("must be a bool")
    return v


def _choice(*names: str) -> Callable[[Any, int], str]:
    def check(v: Any, ndim: int) -> str:
        if v not in names or not isinstance(v, str):
            raise _Bad(f"must be one of {', '.join(names)}")
        return v
    return check


def _device(v: Any, ndim: int) -> str:
    if not isinstance(v, str) or len(v) > 32:
        raise _Bad("must be a device name")
    try:
        canonical_device_name(v)
    except (ValueError, TypeError) as err:
        raise _Bad(f"must be a device name ({err})") from None
    return v


def _axes(v: Any, ndim: int) -> tuple:
    axes = _ints(v, -max(ndim, 1), max(ndim, 1) - 1)
    if len({a % max(ndim, 1) for a in axes}) != len(axes):
        raise _Bad("repeats an axis")
    return axes


def _pairs(v: Any, ndim: int) -> tuple:
    if not isinstance(v, (list, tuple)) or len(v) > MAX_RANK:
        raise _Bad("must be a list of (before, after) pairs")
    out = []
    for pair in v:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise _Bad("must be a list of (before, after) pairs")
        out.append(_ints(pair, 0))
    return tuple(out)


def _steps(v: Any, ndim: int) -> tuple:
    steps = _ints(v)
    if 0 in steps:
        raise _Bad("has a step of zero")
    return steps


def _spec(v: Any, n_inputs: int) -> tuple:
    """An index spec (see graphc.ops.indexing): ("s", start, stop, step), ("i", k),
    ("n",) or ("a", j) with j naming one of the node's index-array inputs."""
    if not isinstance(v, (list, tuple)) or len(v) > MAX_RANK:
        raise _Bad("must be a list of index entries")
    out = []
    for e in v:
        kind = e[0] if isinstance(e, (list, tuple)) and e else None
        if kind == "s" and len(e) == 4 and _int(e[3]) != 0:
            out.append(("s", *_ints(e[1:])))
        elif kind == "i" and len(e) == 2:
            out.append(("i", _int(e[1], 0)))
        elif kind == "n" and len(e) == 1:
            out.append(("n",))
        elif kind == "a" and len(e) == 2:
            out.append(("a", _int(e[1], 0, max(n_inputs - 2, 0))))
        else:
            raise _Bad(f"has an invalid entry {str(e)[:40]}")
    return tuple(out)


def _sizes(low: int) -> Callable[[Any, int], tuple]:
    return lambda v, ndim: _ints(v, low)


def _count(low: int) -> Callable[[Any, int], int]:
    return lambda v, ndim: _int(v, low)


# How each attribute name is checked: ``check(value, ndim of input 0)``; "spec" gets the
# number of inputs instead. A name means the same in every op that has it.
KINDS: dict[str, Callable[[Any, int], Any]] = {
    "axes": _axes, "axis": _axis, "keepdims": _bool, "dtype": _choice(*sorted(DTYPE_NAMES)),
    "device": _device, "value": _number, "eps": _number, "momentum": _number,
    "label_smooth": _number, "shape": _sizes(0), "in_hw": _sizes(0), "kernel": _sizes(1),
    "stride": _sizes(1), "dilation": _sizes(1), "padding": _sizes(0),
    "perm": lambda v, ndim: _ints(v, 0, max(ndim - 1, 0)), "starts": lambda v, n: _ints(v),
    "stops": lambda v, n: _ints(v), "steps": _steps, "pads": _pairs, "groups": _count(1),
    "size": _count(0), "n_ys": _count(0), "x": _count(0), "spec": _spec,
    "caller": _choice("one_hot"),
    "reduction": _choice("mean", "sum", "none"), "has_weight": _bool, "has_bias": _bool,
    "squared": _bool, "scale_product": _bool, "scale_c": _bool, "subtract": _bool,
}

_REDUCE = ("axes", "keepdims")
_POOL = ("kernel", "stride", "padding")
_CONV = ("stride", "padding", "dilation", "groups")
# The attributes each built-in op takes (ops not listed take none, unless user-declared).
OP_ATTRS: dict[str, tuple[str, ...]] = {
    **{op: _REDUCE for op in ("sum", "max", "min", "prod", "argmax", "argmin")},
    "astype": ("dtype",), "broadcast_to": ("shape",), "reshape": ("shape",),
    "transpose": ("perm",), "slice": ("starts", "stops", "steps"),
    "pad": ("pads", "mode", "value"), "to_device": ("device",),
    "concat": ("axis",), "gather": ("axis",), "scatter_add_axis": ("axis",),
    "check_index": ("axis", "size"), "index": ("spec",), "setitem": ("spec",),
    "scatter_add": ("spec",),
    "conv2d": _CONV, "conv2d_backward_data": (*_CONV, "in_hw"),
    "conv2d_backward_filter": (*_CONV, "kernel"),
    "max_pool2d": _POOL, "max_pool2d_backward": _POOL, "max_pool2d_select": _POOL,
    "avg_pool2d": (*_POOL, "mode"), "avg_pool2d_backward": (*_POOL, "mode", "in_hw"),
    "batch_norm_train": ("eps", "has_weight", "has_bias"),
    "batch_norm_eval": ("eps", "has_weight", "has_bias"),
    "batch_norm_running_mean": ("momentum",), "batch_norm_running_var": ("momentum",),
    "layer_norm": ("axes", "eps"), "cross_entropy": ("axis", "label_smooth", "reduction"),
    "moving_average": ("squared",), "matmul_add": ("scale_product", "scale_c", "subtract"),
    "grad_of": ("n_ys", "x"),
}

def _modes(op: str) -> tuple[str, ...]:
    """The modes a ``mode`` attribute of ``op`` may name (the op's own list)."""
    from . import pad, pool  # (they format index expressions with literal: import late)

    return pad.MODES if op == "pad" else pool.MODES

# Attributes an op may have or not (the pooling ops share one inference).
_OPTIONAL = {"max_pool2d": ("mode",), "max_pool2d_backward": ("mode",),
             "max_pool2d_select": ("mode",), "check_index": ("caller",)}


def _generic(v: Any, depth: int = 0) -> Any:
    if v is None or isinstance(v, (bool, int, float)):
        return _number(v, 0) if v is not None else v
    if isinstance(v, str):
        if len(v) > 256:
            raise _Bad("is a string longer than 256 characters")
        return v
    if isinstance(v, (list, tuple)) and depth < 4 and len(v) <= 1024:
        return tuple(_generic(x, depth + 1) for x in v)
    raise _Bad("must be a number, bool, short string, None or a list of these")


def check_attrs(op: str, attrs: dict[str, Any], input_ndims: Sequence[int],
                n_inputs: int) -> dict[str, Any]:
    """``attrs`` of a loaded ``op`` node, checked by type and range (lists become
    tuples); ValueError naming the op, the attribute and what it must be.

    ``input_ndims`` are the ranks of the node's inputs (axes are checked against the
    first). Registered ops outside :data:`OP_ATTRS` take no attributes, except composite
    ops a user declared, which may have generic ones: numbers, bools, short strings,
    None and lists of these.

    >>> check_attrs("sum", {"axes": [1], "keepdims": False}, [2], 1)
    {'axes': (1,), 'keepdims': False}
    >>> check_attrs("sum", {"axes": [2], "keepdims": False}, [2], 1)
    Traceback (most recent call last):
    ...
    ValueError: sum: attribute axes=[2] must be a list of at most 64 ints from -2 to 1
    """
    from .registry import OPS

    ndim = input_ndims[0] if input_ndims else 0
    names = OP_ATTRS.get(op)
    if names is None and not (op in OPS and OPS[op].composite):
        names = ()  # a built-in op with no attributes
    out: dict[str, Any] = {}
    for name, value in attrs.items():
        try:
            if not isinstance(name, str):
                raise _Bad("is not named by a string")
            if names is None:
                out[name] = _generic(value)
                continue
            if name not in names and name not in _OPTIONAL.get(op, ()):
                raise _Bad(f"is not an attribute of {op} (it takes "
                           f"{', '.join(names) or 'none'})")
            if name == "mode":
                out[name] = _choice(*_modes(op))(value, ndim)
            elif op == "check_index" and name == "axis":
                # the class axis of the values the labels select from, one rank above
                # the labels (cross_entropy's logits, one_hot's result)
                out[name] = _axis(value, ndim + 1)
            else:
                out[name] = KINDS[name](value, n_inputs if name == "spec" else ndim)
        except _Bad as err:
            raise ValueError(f"{op}: attribute {name}={repr(value)[:80]} {err}") from None
    if names is not None:
        missing = [n for n in names if n not in out]
        if missing:
            raise ValueError(f"{op}: missing attribute {', '.join(missing)}")
    return out
