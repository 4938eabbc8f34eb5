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
    """(fan_in, fan_out) of a weight: (out, in) for Linear, (out, in, kh, kw) for conv."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> None:
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> None:
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def msra_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in") -> None:
    fan = calculate_fan_in_and_fan_out(tensor)[0 if mode == "fan_in" else 1]
    bound = math.sqrt(6.0 / ((1 + a * a) * fan))
    uniform_(tensor, -bound, bound)


def msra_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in") -> None:
    fan = calculate_fan_in_and_fan_out(tensor)[0 if mode == "fan_in" else 1]
    normal_(tensor, 0.0, math.sqrt(2.0 / ((1 + a * a) * fan)))
