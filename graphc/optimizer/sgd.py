"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..functional.composite import composite
from ..tensor import Parameter, Tensor
from .optimizer import Optimizer, Scalars, _zeros_like, required

__all__ = ["SGD"]


class SGD(Optimizer):
    """MegEngine's SGD: ``g += wd*p``; ``v = momentum*v + g``; ``g = g + momentum*v`` with
    Nesterov, else ``g = v``; ``p -= lr*g``.

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([1., 2.])
    >>> w.grad = graphc.tensor([0.5, -1.])
    >>> optim.SGD([w], lr=0.1).step().clear_grad()
    >>> w.numpy()
    array([0.95, 2.1 ], dtype=float32)
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], lr: float = required,
                 momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        if nesterov and not momentum:
            raise ValueError("SGD: nesterov momentum needs momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if group["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum {group['momentum']}")
        if group["weight_decay"] < 0:
            raise ValueError(f"SGD: invalid weight_decay {group['weight_decay']}")

    def _create_state(self, param: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum_buffer": _zeros_like(param)} if group["momentum"] else {}

    def _update(self, param: Parameter, grad: Tensor, group: dict[str, Any],
                state: dict[str, Any], scalars: Scalars) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if group["weight_decay"]:
            grad = grad + scalars("weight_decay", param) * param
        if group["momentum"]:
            momentum = scalars("momentum", param)
            if "momentum_buffer" not in state:  # momentum turned on after construction
                state["momentum_buffer"] = _zeros_like(param)
            buf = _momentum_buffer(state["momentum_buffer"], grad, momentum)
            out["momentum_buffer"] = buf
            grad = grad + momentum * buf if group["nesterov"] else buf
        out["param"] = _sgd_step(param, grad, scalars("lr", param))
        return out


# Each update is one node while the step is built (see graphc.functional.composite):
# a training step builds them for every parameter, every step.
@composite("sgd_step")
def _sgd_step(param: Tensor, grad: Tensor, lr: Tensor) -> Tensor:
    """``param - lr * grad``."""
    return param - lr * grad


@composite("momentum_buffer")
def _momentum_buffer(buf: Tensor, grad: Tensor, momentum: Tensor) -> Tensor:
    """``momentum * buf + grad``."""
    return momentum * buf + grad
