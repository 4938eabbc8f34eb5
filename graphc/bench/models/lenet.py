"""LeNet-5 (LeCun et al. 1998) on 1×28×28 digits, in graphc and as a PyTorch twin.

>>> model = lenet5()
>>> sum(p.size for p in model.parameters())
61706
"""

from __future__ import annotations

import graphc.module as M

__all__ = ["lenet5", "torch_lenet5"]


def lenet5(num_classes: int = 10) -> M.Module:
    """LeNet-5 on 1×28×28: conv 6@5×5 pad 2, pool, conv 16@5×5, pool, 120, 84, classes."""
    return M.Sequential(
        M.Conv2d(1, 6, 5, padding=2), M.ReLU(), M.MaxPool2d(2),
        M.Conv2d(6, 16, 5), M.ReLU(), M.MaxPool2d(2), M.Flatten(),
        M.Linear(400, 120), M.ReLU(), M.Linear(120, 84), M.ReLU(), M.Linear(84, num_classes))


def torch_lenet5(num_classes: int = 10):
    """LeNet-5 in PyTorch, layer for layer (and name for name) as :func:`lenet5`."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes))
