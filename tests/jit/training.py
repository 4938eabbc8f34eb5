"""A training step for tests of @graphc.jit: forward, GradManager backward, optimizer step."""

from __future__ import annotations

from collections.abc import Callable

import graphc.functional as F
from graphc.autodiff import GradManager


def training_step(net, opt, loss_fn: Callable = F.square_loss) -> Callable:
    """``step(x, y) -> loss`` training ``net`` with ``opt`` (not jitted: wrap it)."""
    gm = GradManager().attach(net.parameters())

    def step(x, y):
        with gm:
            loss = loss_fn(net(x), y)
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    return step
