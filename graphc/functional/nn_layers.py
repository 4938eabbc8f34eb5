"""Layer functions built from primitives: dropout, embedding, one_hot, topk_accuracy.

>>> import graphc, numpy as np
>>> one_hot(graphc.tensor([0, 2]), 3).numpy().tolist()
[[1, 0, 0], [0, 0, 1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import random as _random
from ..ir import DTypeError, user_location
from ..ops import apply
from ..tensor import Tensor
from ._operands import tensor_of
from .elemwise import equal
from .tensor import arange, expand_dims, gather, squeeze

__all__ = ["dropout", "embedding", "indexing_one_hot", "one_hot", "topk_accuracy"]


def dropout(inp: Any, drop_prob: float, training: bool = True) -> Tensor:
    """Zero each element with probability ``drop_prob`` and scale survivors by
    ``1 / (1 - drop_prob)``; the identity when not training. Each call draws a new mask
    from ``graphc.random`` (a buffer in the graph: a new mask never recompiles)."""
    x = tensor_of(inp)
    if not training or drop_prob == 0:
        return x
    if not 0 <= drop_prob < 1:
        raise ValueError(f"dropout: drop_prob must be in [0, 1), got {drop_prob}")
    keep = _random.bernoulli(1 - drop_prob, size=x.shape, dtype=x.dtype,
                             device=x._node.type.device)  # the mask lives beside x
    return x * keep * (1.0 / (1 - drop_prob))


def embedding(inp: Any, weight: Any) -> Tensor:
    """Rows of ``weight`` selected by the integer ``inp`` (bounds-checked)."""
    return tensor_of(weight)[tensor_of(inp)]


def indexing_one_hot(src: Any, index: Any, axis: int = 1, keepdims: bool = False) -> Tensor:
    """``src`` indexed along ``axis`` by the integer ``index`` (one index per position of
    the other axes): MegEngine's ``indexing_one_hot``, picking each row's label entry.

    >>> import graphc
    >>> src = graphc.tensor([[1., 2., 3.], [4., 5., 6.]])
    >>> indexing_one_hot(src, graphc.tensor([2, 0])).numpy()
    array([3., 4.], dtype=float32)
    """
    x = tensor_of(src)
    picked = gather(x, axis, expand_dims(tensor_of(index, x._node.type.device), axis))
    return picked if keepdims else squeeze(picked, axis)


def one_hot(inp: Any, num_classes: int) -> Tensor:
    """One-hot encoding of integer classes along a new last axis, in the input's dtype
    (as MegEngine). A class outside ``[0, num_classes)`` is an error when the result is
    computed (``graphc.OpError`` naming one_hot, the class and the line), never a row of
    zeros.

    >>> import graphc
    >>> try:
    ...     one_hot(graphc.tensor([0, 4]), 3).numpy()
    ... except graphc.OpError as err:
    ...     print(str(err).split(" (")[0])
    check_index: one_hot: class 4 is out of range for 3 classes
    """
    x = tensor_of(inp)
    if x.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: classes must be integers, got {x.dtype.name} of shape "
                         f"{x.shape} ({user_location()})")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r} "
                         f"({user_location()})")
    checked = Tensor._wrap(apply("check_index", [x._node], size=int(num_classes),
                                 axis=x.ndim, caller="one_hot"))
    classes = arange(num_classes, dtype=x.dtype, device=x._node.type.device)
    return equal(expand_dims(checked, -1), classes).astype(x.dtype)


def topk_accuracy(logits: Any, target: Any, topk: int | tuple = 1) -> Any:
    """Fraction of rows whose target is among the ``k`` largest logits (one value per k);
    ties go to the lower class index.

    >>> import graphc
    >>> topk_accuracy(graphc.tensor([[0.1, 0.9], [0.8, 0.2]]), graphc.tensor([1, 1])).item()
    0.5
    """
    x, y = tensor_of(logits), tensor_of(target)
    ks = (topk,) if isinstance(topk, int) else tuple(topk)
    scores = x.numpy()
    labels = y.numpy()
    order = np.argsort(-scores, axis=1, kind="stable")
    results = []
    for k in ks:
        hit = (order[:, :k] == labels[:, None]).any(axis=1)
        results.append(Tensor(np.float32(hit.mean())))
    return results[0] if isinstance(topk, int) else tuple(results)
