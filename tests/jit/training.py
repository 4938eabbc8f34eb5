"""A training step for tests of @graphc.jit: forward, GradManager backward, optimizer step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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


# A small classification batch for the in-place update tests (lazy and traced).
_rng = np.random.default_rng(0)
X = _rng.standard_normal((8, 5)).astype(np.float32)
Y = _rng.integers(0, 3, 8).astype(np.int32)


def address(t) -> int:
    """Where ``t``'s buffer lives (an int: holding it keeps nothing alive)."""
    return t._node.buffer.ctypes.data
