"""Convolution and pooling functions (MegEngine's signatures), on NCHW tensors.

Also reachable as ``F.nn.conv2d``, ``F.nn.max_pool2d``, ... Each builds one op of
:mod:`graphc.ops.conv` / :mod:`graphc.ops.pool` (plus a bias add), so gradients of any
order are graph nodes and compiled Programs call the CPU kernels.

>>> import graphc, numpy as np
>>> x = graphc.tensor(np.ones((1, 1, 4, 4)))
>>> conv2d(x, graphc.tensor(np.ones((2, 1, 3, 3))), padding=1).shape
(1, 2, 4, 4)
>>> max_pool2d(x, 2).shape
(1, 1, 2, 2)
"""

from __future__ import annotations

from typing import Any

from .. import dtypes
from ..ir import ShapeError, user_location
from ..ops import apply
from ..tensor import Tensor
from ._operands import cast_node, tensor_of, wrap

__all__ = ["adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d", "conv2d",
           "max_pool2d"]

CONV_MODES = ("cross_correlation",)
COMPUTE_MODES = ("default", "float32")
POOL_MODES = ("average", "average_count_exclude_padding")


def _pair(op: str, name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of ints as a pair; anything else is a clear error."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        pair = tuple(value)
    elif isinstance(value, (list, tuple)):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r} "
                         f"({user_location()})")
    else:
        pair = (value, value)
    try:
        ints = tuple(int(v) for v in pair)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r} "
                        f"({user_location()})") from None
    if ints != pair:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r} "
                        f"({user_location()})")
    return ints


def _image(op: str, inp: Any) -> Tensor:
    """``inp`` as a floating-point NCHW tensor."""
    x = tensor_of(inp)
    if x.ndim != 4:
        raise ShapeError(f"{op}: expects a 4-D input (N, C, H, W), got shape {x.shape} "
                         f"({user_location()})")
    return x.astype(dtypes.to_float(x.dtype))


def _mode(op: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    mode = str(getattr(value, "name", value)).lower()
    if mode not in allowed:
        raise ValueError(f"{op}: {name} {value!r} is not supported; use one of {allowed} "
                         f"({user_location()})")
    return mode


def conv2d(inp: Any, weight: Any, bias: Any = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
           groups: int = 1, conv_mode: str = "cross_correlation",
           compute_mode: str = "default") -> Tensor:
    """2-D cross-correlation of ``inp`` (N, C, H, W) with ``weight``.

    ``weight`` is (O, C, KH, KW), or with ``groups > 1`` MegEngine's grouped
    (groups, O/groups, C/groups, KH, KW) (the ungrouped (O, C/groups, KH, KW) is
    accepted too). ``bias`` is MegEngine's (1, O, 1, 1) or a vector of O values.
    ``stride``, ``padding`` (zeros) and ``dilation`` are ints or pairs. Output size:
    ``(H + 2*padding - dilation*(KH-1) - 1) // stride + 1``. ``compute_mode="float32"``
    is accepted: float16 always computes in float32 on the CPU.

    >>> import graphc, numpy as np
    >>> x = graphc.tensor(np.arange(16.).reshape(1, 1, 4, 4))
    >>> conv2d(x, graphc.tensor(np.ones((1, 1, 2, 2))), stride=2).numpy()[0, 0].tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    """
    op = "conv2d"
    _mode(op, "conv_mode", conv_mode, CONV_MODES)
    _mode(op, "compute_mode", compute_mode, COMPUTE_MODES)
    x = _image(op, inp)
    w = tensor_of(weight, device=x._node.type.device)
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r} "
                         f"({user_location()})")
    if w.ndim == 5:
        if w.shape[0] != groups:
            raise ShapeError(f"{op}: grouped weight {w.shape} has {w.shape[0]} groups but "
                             f"groups={groups} ({user_location()})")
        w = w.reshape((w.shape[0] * w.shape[1],) + w.shape[2:])
    elif w.ndim != 4:
        raise ShapeError(f"{op}: weight must be (O, C/groups, KH, KW) or grouped (groups, "
                         f"O/groups, C/groups, KH, KW), got shape {w.shape} "
                         f"({user_location()})")
    dtype = dtypes.to_float(dtypes.promote_types(x.dtype, w.dtype))
    attrs = {"stride": _pair(op, "stride", stride), "padding": _pair(op, "padding", padding),
             "dilation": _pair(op, "dilation", dilation), "groups": groups}
    out = wrap(apply(op, [cast_node(x._node, dtype), cast_node(w._node, dtype)], **attrs))
    if bias is None:
        return out
    b = tensor_of(bias, device=x._node.type.device)
    if b.ndim == 1 and b.shape[0] == out.shape[1]:
        b = b.reshape(1, -1, 1, 1)
    if b.ndim != 4 or b.shape[0] != 1 or b.shape[1] not in (1, out.shape[1]) or \
            b.shape[2:] != (1, 1):
        raise ShapeError(f"{op}: bias must be (1, {out.shape[1]}, 1, 1) or ({out.shape[1]},), "
                         f"got shape {b.shape} ({user_location()})")
    return out + b


def _pool(op: str, inp: Any, kernel_size: Any, stride: Any, padding: Any, **extra: Any
          ) -> Tensor:
    x = _image(op, inp)
    kernel = _pair(op, "kernel_size", kernel_size)
    attrs = {"kernel": kernel, "stride": kernel if stride is None else _pair(op, "stride", stride),
             "padding": _pair(op, "padding", padding), **extra}
    return wrap(apply(op, [x._node], **attrs))


def max_pool2d(inp: Any, kernel_size: int | tuple[int, int],
               stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0) -> Tensor:
    """The maximum of each window; ``stride`` defaults to ``kernel_size``. Padded
    positions never win; the gradient goes to each window's first maximum (row-major),
    ties are not split.

    >>> import graphc, numpy as np
    >>> max_pool2d(graphc.tensor(np.arange(16.).reshape(1, 1, 4, 4)), 2).numpy()[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    return _pool("max_pool2d", inp, kernel_size, stride, padding)


def avg_pool2d(inp: Any, kernel_size: int | tuple[int, int],
               stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0,
               mode: str = "average_count_exclude_padding") -> Tensor:
    """The mean of each window; ``stride`` defaults to ``kernel_size``. ``mode``
    ``"average_count_exclude_padding"`` (the default) divides by the real elements of
    the window, ``"average"`` by its whole area (zero padding counted).

    >>> import graphc, numpy as np
    >>> x = graphc.tensor(np.ones((1, 1, 2, 2)))
    >>> avg_pool2d(x, 2, padding=1).numpy()[0, 0].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    >>> avg_pool2d(x, 2, padding=1, mode="average").numpy()[0, 0].tolist()
    [[0.25, 0.25], [0.25, 0.25]]
    """
    return _pool("avg_pool2d", inp, kernel_size, stride, padding,
                 mode=_mode("avg_pool2d", "mode", mode, POOL_MODES))


def _adaptive(op: str, inp: Any, oshp: Any) -> tuple[Tensor, dict]:
    """MegEngine's adaptive pooling: stride ``H // OH`` and window
    ``H - (OH - 1) * stride`` per axis, no padding."""
    x = _image(op, inp)
    oh, ow = _pair(op, "oshp", oshp)
    (h, w) = x.shape[2:]
    if not (0 < oh <= h and 0 < ow <= w):
        raise ShapeError(f"{op}: output size {(oh, ow)} must be positive and at most the "
                         f"input size {(h, w)} ({user_location()})")
    stride = (h // oh, w // ow)
    kernel = (h - (oh - 1) * stride[0], w - (ow - 1) * stride[1])
    return x, {"kernel_size": kernel, "stride": stride, "padding": 0}


def adaptive_avg_pool2d(inp: Any, oshp: int | tuple[int, int]) -> Tensor:
    """Average pooling to an output of size ``oshp`` (MegEngine's rule: stride
    ``H // OH``, window ``H - (OH-1)*stride``; equal to PyTorch's when ``OH`` divides
    ``H``).

    >>> import graphc, numpy as np
    >>> x = graphc.tensor(np.arange(16.).reshape(1, 1, 4, 4))
    >>> adaptive_avg_pool2d(x, 1).numpy().ravel().tolist()
    [7.5]
    """
    x, args = _adaptive("adaptive_avg_pool2d", inp, oshp)
    return avg_pool2d(x, **args)


def adaptive_max_pool2d(inp: Any, oshp: int | tuple[int, int]) -> Tensor:
    """Max pooling to an output of size ``oshp`` (windows as in adaptive_avg_pool2d).

    >>> import graphc, numpy as np
    >>> x = graphc.tensor(np.arange(16.).reshape(1, 1, 4, 4))
    >>> adaptive_max_pool2d(x, (2, 1)).numpy().ravel().tolist()
    [7.0, 15.0]
    """
    x, args = _adaptive("adaptive_max_pool2d", inp, oshp)
    return max_pool2d(x, **args)

