"""``graphc.functional``: the operations on tensors (``import graphc.functional as F``).

>>> import graphc, graphc.functional as F
>>> F.matmul(graphc.tensor([[1., 2.]]), graphc.tensor([[3.], [4.]])).numpy()
array([[11.]], dtype=float32)
"""

from . import elemwise, loss, math, nn, nn_layers, normalization, padding, tensor
from .activation import hsigmoid, hswish, logsigmoid, prelu, relu6, silu, softplus
from .conv import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    conv2d,
    max_pool2d,
)
from .elemwise import (
    abs,
    add,
    ceil,
    clip,
    cos,
    div,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floor_div,
    greater,
    greater_equal,
    isinf,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    mul,
    neg,
    not_equal,
    pow,
    round,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tan,
    tanh,
    where,
)
from .loss import binary_cross_entropy, cross_entropy, l1_loss, mse_loss, nll_loss, square_loss
from .math import argmax, argmin, dot, matmul, max, mean, min, norm, prod, std, sum, var
from .nn import gelu, leaky_relu, linear, logsoftmax, logsumexp, relu, softmax
from .nn_layers import dropout, embedding, indexing_one_hot, one_hot, topk_accuracy
from .normalization import batch_norm, layer_norm
from .padding import pad
from .tensor import (
    arange,
    broadcast_to,
    concat,
    copy,
    diag,
    expand_dims,
    eye,
    flatten,
    full,
    full_like,
    gather,
    linspace,
    ones,
    ones_like,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    zeros,
    zeros_like,
)

__all__ = [name for name in dir() if not name.startswith("_")]
