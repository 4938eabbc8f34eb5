"""Neural-network functions built from primitives, so they get gradients and fusion.

>>> import graphc, graphc.functional as F
>>> F.softmax(graphc.tensor([[0., 0.]])).numpy()
array([[0.5, 0.5]], dtype=float32)
"""

from __future__ import annotations

import math as _math
from typing import Any

from ..ir.node import pins_location
from ..ops import apply
from ..tensor import Tensor
from ._operands import normalize_axis, operands, tensor_of, wrap
from .composite import composite
from .elemwise import erf, exp, isinf, log, sigmoid, tanh, where
from .math import max, sum

__all__ = ["binary_cross_entropy", "cross_entropy", "gelu", "l1_loss", "leaky_relu", "linear",
           "logsoftmax", "logsumexp", "mse_loss", "nll_loss", "relu", "sigmoid", "softmax",
           "square_loss", "tanh"]


def relu(x: Any) -> Tensor:
    """``max(x, 0)``; NaN propagates and the gradient at 0 is 0."""
    return wrap(apply("relu", operands("relu", [x], "numeric")))


@pins_location
def leaky_relu(inp: Any, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, else ``negative_slope * x``."""
    x = tensor_of(inp)
    return where(x > 0, x, x * negative_slope)


@pins_location
def gelu(x: Any, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: ``x * Φ(x)`` (erf form), or the tanh approximation
    with ``approximate="tanh"``."""
    x = tensor_of(x)
    if approximate == "none":
        return x * 0.5 * (1.0 + erf(x * (1.0 / _math.sqrt(2.0))))
    if approximate == "tanh":
        c = _math.sqrt(2.0 / _math.pi)
        return x * 0.5 * (1.0 + tanh(c * (x + 0.044715 * (x * x * x))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _default_axis(ndim: int) -> int:
    # MegEngine's rule for softmax without an axis.
    return 0 if ndim in (0, 1, 3) else 1


def _stable_shift(x: Tensor, axis: int) -> Tensor:
    """The row maximum, with infinities replaced by 0 so that ``x - shift`` stays finite
    for finite x (NaN still propagates).

    Detached: softmax, logsoftmax and logsumexp do not depend on the shift at all (it
    cancels exactly), so its gradient is zero to every order; building it would only
    add nodes to every backward pass."""
    m = max(x, axis, keepdims=True)
    return where(isinf(m), 0.0, m).detach()


@pins_location
def logsumexp(inp: Any, axis: int, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x), axis))`` computed stably."""
    x = tensor_of(inp)
    a = normalize_axis("logsumexp", axis, x.ndim)
    shift = _stable_shift(x, a)
    out = log(sum(exp(x - shift), a, keepdims=True)) + shift
    return out if keepdims else out.reshape(tuple(d for i, d in enumerate(x.shape) if i != a))


@pins_location
def softmax(inp: Any, axis: int | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (MegEngine's default axis when None)."""
    x = tensor_of(inp)
    a = normalize_axis("softmax", _default_axis(x.ndim) if axis is None else axis, x.ndim)
    e = exp(x - max(x, a, keepdims=True))
    return e / sum(e, a, keepdims=True)


@pins_location
def logsoftmax(inp: Any, axis: int | None = None) -> Tensor:
    """``x - logsumexp(x)`` along ``axis``, as ``(x - shift) - log(sum(exp(x - shift)))``."""
    x = tensor_of(inp)
    a = normalize_axis("logsoftmax", _default_axis(x.ndim) if axis is None else axis, x.ndim)
    shifted = x - _stable_shift(x, a)
    return shifted - log(sum(exp(shifted), a, keepdims=True))


@pins_location
def linear(inp: Any, weight: Any, bias: Any = None) -> Tensor:
    """``inp @ weight.T + bias`` with ``weight`` of shape (out, in) (MegEngine's layout).

    >>> import graphc, numpy as np
    >>> linear(graphc.tensor(np.ones((2, 3))), graphc.tensor(np.ones((4, 3)))).shape
    (2, 4)
    """
    x, w = tensor_of(inp), tensor_of(weight)
    if bias is None:
        return _linear(x, w)
    if isinstance(bias, Tensor):
        return _linear(x, w, bias)
    return _linear.expand(x, w, bias)  # a Python or NumPy bias: promoted as in ``+``


@composite("linear")
def _linear(x: Tensor, weight: Tensor, bias: Any = None) -> Tensor:
    """``linear`` as one node while the step is built (see :mod:`.composite`)."""
    from .math import matmul

    out = matmul(x, weight, transpose_b=True)
    return out if bias is None else out + bias


# MegEngine reaches convolution and pooling as F.nn.conv2d, ... too.
from .conv import (  # noqa: E402
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    conv2d,
    max_pool2d,
)

# MegEngine reaches losses as F.nn.cross_entropy as well as F.loss.cross_entropy.
from .loss import (  # noqa: E402
    binary_cross_entropy,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
    square_loss,
)

__all__ += ["adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d", "conv2d", "max_pool2d"]

# ... and normalisation and padding as F.nn.batch_norm, F.nn.layer_norm, F.nn.pad.
from .normalization import batch_norm, layer_norm  # noqa: E402
from .padding import pad  # noqa: E402

__all__ += ["batch_norm", "layer_norm", "pad"]

# ... and MegEngine's layer functions and the other activations (F.nn.one_hot, ...).
from .activation import hsigmoid, hswish, logsigmoid, prelu, relu6, silu, softplus  # noqa: E402
from .nn_layers import dropout, embedding, indexing_one_hot, one_hot  # noqa: E402

__all__ += ["dropout", "embedding", "hsigmoid", "hswish", "indexing_one_hot", "logsigmoid",
            "one_hot", "prelu", "relu6", "silu", "softplus"]
