"""Gradient clipping: rescale by the total norm, or clamp each element.

Both rewrite ``t.grad`` through :func:`graphc.lazy.rebind` (the gradient Tensor object
stays the same, as MegEngine's in-place reset does) and stay lazy, so the clipping
compiles into the same Program as the optimizer step that follows.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import functional as F
from .. import lazy
from ..tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_value"]


def _with_grads(tensors: Tensor | Iterable[Tensor]) -> list[Tensor]:
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"clip_grad: expected Tensors, got {type(t).__name__}")
    return [t for t in tensors if t.grad is not None]


def clip_grad_norm(tensors: Tensor | Iterable[Tensor], max_norm: float,
                   ord: float = 2.0) -> Tensor:
    """Scale gradients so their joint ``ord``-norm is at most ``max_norm``; return the
    norm before clipping. The scale is ``min(1, max_norm / (norm + 1e-6))``.

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([0., 0.])
    >>> w.grad = graphc.tensor([3., 4.])
    >>> total = optim.clip_grad_norm([w], max_norm=1.0)
    >>> total.item(), [round(g, 3) for g in w.grad.numpy().tolist()]
    (5.0, [0.6, 0.8])
    """
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm}")
    tensors = _with_grads(tensors)
    if not tensors:
        return Tensor(0.0)
    norms = [F.norm(t.grad.flatten(), ord=ord) for t in tensors]
    total = norms[0] if len(norms) == 1 else F.norm(F.stack(norms), ord=ord)
    scale = F.minimum(max_norm / (total + 1e-6), 1.0)
    for t in tensors:
        grad = t.grad
        lazy.rebind(grad, (grad * scale.astype(grad.dtype))._node)
    return total


def clip_grad_value(tensors: Tensor | Iterable[Tensor], lower: float, upper: float) -> None:
    """Clamp every gradient element into ``[lower, upper]``.

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([0., 0., 0.])
    >>> w.grad = graphc.tensor([-3., 0.5, 4.])
    >>> optim.clip_grad_value(w, -1.0, 1.0); w.grad.numpy().tolist()
    [-1.0, 0.5, 1.0]
    """
    if lower > upper:
        raise ValueError(f"clip_grad_value: lower {lower} is greater than upper {upper}")
    for t in _with_grads(tensors):
        grad = t.grad
        lazy.rebind(grad, F.clip(grad, lower, upper)._node)
