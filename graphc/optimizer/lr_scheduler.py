"""Learning-rate schedulers: they set ``group["lr"]``, which never recompiles a step,
nor retraces a step under ``@graphc.jit`` (it reads ``lr`` from the group on each call).
Call ``scheduler.step()`` outside a jitted function: inside, it would run only while
tracing.

As in MegEngine, a scheduler stores each group's starting rate as ``initial_lr``, and
its constructor calls :meth:`LRScheduler.step` once, so the optimizer holds the epoch-0
rate right away. Call ``scheduler.step()`` once per epoch.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from .optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "MultiStepLR", "StepLR"]


class LRScheduler:
    """Base class: subclasses define :meth:`get_lr` from ``current_epoch`` and
    ``base_lrs``.

    >>> import graphc, graphc.optimizer as optim
    >>> opt = optim.SGD([graphc.Parameter([1.])], lr=0.1)
    >>> sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    >>> [(sched.step(), opt.param_groups[0]["lr"])[1] for _ in range(4)]
    [0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, optimizer: Optimizer, current_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.current_epoch = current_epoch
        if current_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: resuming at epoch "
                                   f"{current_epoch} needs 'initial_lr' in parameter group {i}")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group at ``current_epoch``."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or jump to ``epoch``) and set each group's ``lr``."""
        self.current_epoch = self.current_epoch + 1 if epoch is None else epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        unknown = set(state_dict) - set(self.state_dict())
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected keys "
                             f"{sorted(unknown)}")
        self.__dict__.update(state_dict)


class MultiStepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (number of milestones <= epoch)``.

    >>> import graphc, graphc.optimizer as optim
    >>> opt = optim.SGD([graphc.Parameter([1.])], lr=1.0)
    >>> sched = optim.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    >>> sched.get_lr(), (sched.step(epoch=2), sched.get_lr())[1]
    ([1.0], [0.1])
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 current_epoch: int = -1) -> None:
        milestones = list(milestones)
        if milestones != sorted(milestones):
            raise ValueError(f"MultiStepLR: milestones must be increasing, got {milestones}")
        self.milestones = milestones
        self.gamma = gamma
        super().__init__(optimizer, current_epoch)

    def get_lr(self) -> list[float]:
        power = bisect_right(self.milestones, self.current_epoch)
        return [base * self.gamma ** power for base in self.base_lrs]


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``.

    >>> import graphc, graphc.optimizer as optim
    >>> opt = optim.SGD([graphc.Parameter([1.])], lr=1.0)
    >>> sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    >>> sched.step(epoch=5); opt.param_groups[0]["lr"]
    0.5
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 current_epoch: int = -1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, current_epoch)

    def get_lr(self) -> list[float]:
        return [base * self.gamma ** (self.current_epoch // self.step_size)
                for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``
    (the closed form; past ``T_max`` it keeps following the cosine, as PyTorch's does).

    >>> import graphc, graphc.optimizer as optim
    >>> opt = optim.SGD([graphc.Parameter([1.])], lr=1.0)
    >>> sched = optim.CosineAnnealingLR(opt, T_max=4)
    >>> [round(lr, 4) for lr in (sched.get_lr()[0], (sched.step(2), sched.get_lr()[0])[1])]
    [1.0, 0.5]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 current_epoch: int = -1) -> None:
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, current_epoch)

    def get_lr(self) -> list[float]:
        cosine = (1.0 + math.cos(math.pi * self.current_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]
