"""Adam and AdamW (decoupled weight decay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import functional as F
from ..functional.composite import composite
from ..tensor import Parameter, Tensor
from .optimizer import Optimizer, Scalars, _zeros_like, as_dtype, required, step_counter

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """MegEngine's Adam with L2 weight decay added to the gradient.

    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g*g``, ``p -= lr * (m/(1-b1^t)) /
    (sqrt(v/(1-b2^t)) + eps)``. As in MegEngine, the step count ``t`` is a float32 0-d
    state tensor (``state[p]["step"]``) advanced in the step's graph, and the bias
    corrections are computed from it in the graph (in float32), folded into two 0-d
    values (``lr*sqrt(1-b2^t)/(1-b1^t)`` and ``eps*sqrt(1-b2^t)``). So step 2 has step
    1's graph: the lazy path compiles one Program and a ``@graphc.jit`` step traces once.

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([1., 2.])
    >>> w.grad = graphc.tensor([0.5, -1.])
    >>> optim.Adam([w], lr=0.1).step().state[w]["step"]
    Tensor(1.0, device=xpux:0)
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
        return {"step": step_counter(param), "exp_avg": _zeros_like(param),
                "exp_avg_sq": _zeros_like(param)}

    def _update(self, param: Parameter, grad: Tensor, group: dict[str, Any],
                state: dict[str, Any], scalars: Scalars) -> dict[str, Any]:
        if group["weight_decay"] and not self._decoupled:
            grad = grad + scalars("weight_decay", param) * param
        step = state["step"] + 1
        exp_avg = _moving_average(state["exp_avg"], grad, scalars("beta1", param, _beta1),
                                  scalars("1-beta1", param, _one_minus_beta1), squared=False)
        exp_avg_sq = _moving_average(state["exp_avg_sq"], grad,
                                     scalars("beta2", param, _beta2),
                                     scalars("1-beta2", param, _one_minus_beta2), squared=True)
        new_param = _adam_step(param, exp_avg, exp_avg_sq, step, scalars("lr", step),
                               scalars("beta1", step, _beta1), scalars("beta2", step, _beta2),
                               scalars("eps", step))
        if group["weight_decay"] and self._decoupled:
            new_param = new_param - scalars("lr*weight_decay", param, _lr_times_wd) * param
        return {"param": new_param, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                "step": step}


# Each update is one node while the step is built (see graphc.functional.composite):
# a training step builds them for every parameter, every step.
@composite("moving_average")
def _moving_average(avg: Tensor, x: Tensor, beta: Tensor, one_minus_beta: Tensor, *,
                    squared: bool) -> Tensor:
    """``beta * avg + (1 - beta) * x`` (``x * x`` if ``squared``)."""
    return beta * avg + one_minus_beta * (F.square(x) if squared else x)


@composite("adam_step")
def _adam_step(param: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: Tensor, lr: Tensor,
               beta1: Tensor, beta2: Tensor, eps: Tensor) -> Tensor:
    """The parameter after one Adam step, bias-corrected by the step count ``step``."""
    # lr*(m/bc1)/(sqrt(v/bc2)+eps) == (lr*sqrt(bc2)/bc1) * m/(sqrt(v) + eps*sqrt(bc2)),
    # the 0-d part in float32 from the step count (the scalars are shaped like ``step``).
    root_bc2 = F.sqrt(1 - beta2 ** step)
    bc1 = 1 - beta1 ** step
    step_size = as_dtype(lr * root_bc2 / bc1, param.dtype)
    eps = as_dtype(eps * root_bc2, param.dtype)
    return param - step_size * (exp_avg / (F.sqrt(exp_avg_sq) + eps))


def _beta1(group: dict[str, Any]) -> float:
    return group["betas"][0]


def _beta2(group: dict[str, Any]) -> float:
    return group["betas"][1]


def _one_minus_beta1(group: dict[str, Any]) -> float:
    return 1.0 - group["betas"][0]


def _one_minus_beta2(group: dict[str, Any]) -> float:
    return 1.0 - group["betas"][1]


def _lr_times_wd(group: dict[str, Any]) -> float:
    return group["lr"] * group["weight_decay"]


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
