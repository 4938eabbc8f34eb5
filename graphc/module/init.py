"""Parameter initialisation (MegEngine's ``module.init``). Each function writes through
graphc's one mutation door and draws from ``graphc.random``'s generator.

>>> import graphc
>>> w = graphc.Parameter(np.zeros((2, 3), np.float32))
>>> ones_(w); w.numpy().tolist()
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
"""

from __future__ import annotations

import math

import numpy as np

from .. import lazy
from .. import random as _random
from ..ir import buffer_node
from ..tensor import Tensor, place


def _write(tensor: Tensor, values: np.ndarray) -> None:
    array = np.array(values, dtype=tensor.dtype, order="C").reshape(tensor.shape)
    array.flags.writeable = False
    device = tensor._node.type.device
    lazy.rebind(tensor, buffer_node(place(array, device), device))


def fill_(tensor: Tensor, value: float) -> None:
    _write(tensor, np.full(tensor.shape, value))


def zeros_(tensor: Tensor) -> None:
    fill_(tensor, 0)


def ones_(tensor: Tensor) -> None:
    fill_(tensor, 1)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> None:
    _write(tensor, _random.uniform(a, b, tensor.shape).numpy())


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> None:
    _write(tensor, _random.normal(mean, std, tensor.shape).numpy())


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: (out, in) for Linear, (out, in, kh, kw) for conv;
    a grouped conv weight (groups, out/groups, in/groups, kh, kw) counts one group, as
    MegEngine does.

    >>> calculate_fan_in_and_fan_out(Tensor(np.zeros((3, 2, 5, 7))))
    (70, 105)
    >>> calculate_fan_in_and_fan_out(Tensor(np.zeros((2, 2, 1, 5, 7))))
    (35, 70)
    """
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got {shape}")
    if len(shape) == 5:
        shape = shape[1:]  # the groups axis of a grouped conv2d weight
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> None:
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> None:
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain MegEngine (and PyTorch) recommend for a nonlinearity: 1 for linear
    layers and sigmoid, 5/3 for tanh, sqrt(2) for relu, and sqrt(2 / (1 + slope**2))
    for leaky_relu (``param`` is the slope, 0.01 when None).

    >>> calculate_gain("relu") == math.sqrt(2), calculate_gain("tanh")
    (True, 1.6666666666666667)
    >>> calculate_gain("leaky_relu", 0) == math.sqrt(2)
    True
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected "
                     f"one of {', '.join((*_LINEAR, 'tanh', 'relu', 'leaky_relu'))}")


def calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    """``fan_in`` or ``fan_out`` of ``tensor`` (see :func:`calculate_fan_in_and_fan_out`).

    >>> calculate_correct_fan(Tensor(np.zeros((8, 3, 5, 5))), "fan_out")
    200
    """
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported; use 'fan_in' or 'fan_out'")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _msra_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(calculate_correct_fan(tensor, mode))


def msra_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                  nonlinearity: str = "leaky_relu") -> None:
    """He/MSRA uniform init: U(-b, b) with ``b = sqrt(3) * gain / sqrt(fan)``, the gain of
    ``nonlinearity`` (slope ``a`` for leaky_relu) and the fan of ``mode``.

    >>> w = Tensor(np.zeros((64, 32)))
    >>> msra_uniform_(w, mode="fan_out", nonlinearity="relu")
    >>> bool(abs(w.numpy()).max() <= math.sqrt(3 * 2 / 64))
    True
    """
    bound = math.sqrt(3.0) * _msra_std(tensor, a, mode, nonlinearity)
    uniform_(tensor, -bound, bound)


def msra_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                 nonlinearity: str = "leaky_relu") -> None:
    """He/MSRA normal init: N(0, std) with ``std = gain / sqrt(fan)``, the gain of
    ``nonlinearity`` (slope ``a`` for leaky_relu) and the fan of ``mode``, as ResNet's
    ``msra_normal_(w, mode="fan_out", nonlinearity="relu")`` uses it.

    >>> w = Tensor(np.zeros((256, 64, 3, 3)))
    >>> msra_normal_(w, mode="fan_out", nonlinearity="relu")
    >>> round(float(w.numpy().std() / math.sqrt(2 / (256 * 9))), 1)
    1.0
    """
    normal_(tensor, 0.0, _msra_std(tensor, a, mode, nonlinearity))
