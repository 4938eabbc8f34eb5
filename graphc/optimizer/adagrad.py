"""Adagrad: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import functional as F
from ..tensor import Parameter, Tensor
from .optimizer import Optimizer, Scalars, _zeros_like, as_dtype, step_counter

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """MegEngine's Adagrad: ``g += wd*p``; ``s += g*g``; ``p -= clr * g / sqrt(s + eps)``
    with ``clr = lr / (1 + (t-1)*lr_decay)``. The step count ``t`` is a float32 0-d state
    tensor advanced in the step's graph (see :class:`graphc.optimizer.Adam`).

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([1., 2.])
    >>> w.grad = graphc.tensor([0.5, -2.])
    >>> optim.Adagrad([w], lr=0.1).step() and w.numpy().round(4)
    array([0.9, 2.1], dtype=float32)
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], lr: float = 0.01,
                 lr_decay: float = 0.0, eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "eps", "weight_decay"):
            if group[key] < 0:
                raise ValueError(f"Adagrad: invalid {key} {group[key]}")

    def _create_state(self, param: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": step_counter(param), "square_avg": _zeros_like(param)}

    def _update(self, param: Parameter, grad: Tensor, group: dict[str, Any],
                state: dict[str, Any], scalars: Scalars) -> dict[str, Any]:
        if group["weight_decay"]:
            grad = grad + scalars("weight_decay", param) * param
        step = state["step"] + 1
        square_avg = state["square_avg"] + F.square(grad)
        delta = grad / F.sqrt(square_avg + scalars("eps", param))
        if group["lr_decay"]:  # the decayed rate, in float32 from the step count
            t_minus_1 = state["step"]
            clr = scalars("lr", t_minus_1) / (1 + t_minus_1 * scalars("lr_decay", t_minus_1))
            clr = as_dtype(clr, param.dtype)
        else:
            clr = scalars("lr", param)
        return {"param": param - clr * delta, "square_avg": square_avg, "step": step}
