"""A few SGD steps on one fixed batch, as a MegEngine training script writes them: the
smallest check that a model's forward, backward and update work (the loss falls as the
model fits the batch).

    from quick_train import train
    losses = train(resnet18(num_classes=10), images, labels, steps=5)
"""

from __future__ import annotations

import numpy as np

import graphc as mge
import graphc.functional as F
import graphc.optimizer as optim
from graphc.autodiff import GradManager


def train(model, inputs, labels, steps: int = 5, lr: float = 0.05) -> list[float]:
    """Train ``model`` for ``steps`` SGD steps on ``inputs`` (a tuple of arrays, the
    model's arguments) and ``labels``; return the loss of each step."""
    gm = GradManager().attach(model.parameters())
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    xs = [mge.tensor(a) for a in inputs]
    y = mge.tensor(np.asarray(labels))
    model.train()
    losses = []
    for _ in range(steps):
        with gm:
            logits = model(*xs)
            loss = F.loss.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            gm.backward(loss)
        opt.step().clear_grad()
        losses.append(loss.item())
    return losses


def report(name: str, losses: list[float]) -> None:
    """Print the losses of a run, one line."""
    print(f"{name}: loss " + " → ".join(f"{v:.4f}" for v in losses))
