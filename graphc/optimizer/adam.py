"""Adam and AdamW (decoupled weight decay)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .. import functional as F
from ..tensor import Parameter, Tensor
from .optimizer import Optimizer, Scalars, _zeros_like, required

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """MegEngine's Adam with L2 weight decay added to the gradient.

    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g*g``, ``p -= lr * (m/(1-b1^t)) /
    (sqrt(v/(1-b2^t)) + eps)``. The bias corrections are computed in Python each step and
    folded into two scalars (``lr*sqrt(1-b2^t)/(1-b1^t)`` and ``eps*sqrt(1-b2^t)``), which
    are runtime inputs of the compiled step, so step 2 reuses step 1's Program.

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([1., 2.])
    >>> w.grad = graphc.tensor([0.5, -1.])
    >>> optim.Adam([w], lr=0.1).step().state[w]["step"]
    1
    >>> w.numpy().round(4)
    array([0.9, 2.1], dtype=float32)
    """

    _decoupled = False

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], lr: float = required,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        name = type(self).__name__
        b1, b2 = group["betas"]
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{name}: invalid betas {group['betas']}; each must be in [0, 1)")
        if group["eps"] < 0:
            raise ValueError(f"{name}: invalid eps {group['eps']}")
        if group["weight_decay"] < 0:
            raise ValueError(f"{name}: invalid weight_decay {group['weight_decay']}")

    def _create_state(self, param: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "exp_avg": _zeros_like(param), "exp_avg_sq": _zeros_like(param)}

    def _update(self, param: Parameter, grad: Tensor, group: dict[str, Any],
                state: dict[str, Any], scalars: Scalars) -> dict[str, Any]:
        b1, b2 = group["betas"]
        wd = group["weight_decay"]
        if wd and not self._decoupled:
            grad = grad + scalars("weight_decay", wd, param) * param
        step = state["step"] + 1
        exp_avg = (scalars("beta1", b1, param) * state["exp_avg"]
                   + scalars("1-beta1", 1.0 - b1, param) * grad)
        exp_avg_sq = (scalars("beta2", b2, param) * state["exp_avg_sq"]
                      + scalars("1-beta2", 1.0 - b2, param) * F.square(grad))
        # lr*(m/bc1)/(sqrt(v/bc2)+eps) == (lr*sqrt(bc2)/bc1) * m/(sqrt(v) + eps*sqrt(bc2))
        root_bc2 = math.sqrt(1.0 - b2 ** step)
        step_size = group["lr"] * root_bc2 / (1.0 - b1 ** step)
        eps = scalars(f"eps@{step}", group["eps"] * root_bc2, param)
        delta = exp_avg / (F.sqrt(exp_avg_sq) + eps)
        new_param = param - scalars(f"step_size@{step}", step_size, param) * delta
        if wd and self._decoupled:
            new_param = new_param - scalars("lr*weight_decay", group["lr"] * wd, param) * param
        return {"param": new_param, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                "step": step}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p -= lr * (adam_delta + wd*p)``.

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([1.])
    >>> w.grad = graphc.tensor([0.])
    >>> optim.AdamW([w], lr=0.1, weight_decay=0.5).step() and float(w.numpy()[0])
    0.949999988079071
    """

    _decoupled = True

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], lr: float = required,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
