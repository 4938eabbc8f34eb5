"""NumPy reference optimizers, written from MegEngine's formulas (megengine_api.md §5).

Each works on float64 copies; ``step(params, grads)`` updates the list in place and reads
hyper-parameters from ``self.hyper`` so a test can change ``lr`` mid-run.
"""

from __future__ import annotations

import numpy as np


class RefSGD:
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.hyper = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        self.bufs = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        h = self.hyper
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g + h["weight_decay"] * p
            if h["momentum"]:
                self.bufs[i] = h["momentum"] * self.bufs[i] + g
                g = g + h["momentum"] * self.bufs[i] if h["nesterov"] else self.bufs[i]
            params[i] = p - h["lr"] * g


class RefAdam:
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled=False):
        self.hyper = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.decoupled = decoupled
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params, grads):
        h = self.hyper
        b1, b2 = h["betas"]
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            if not self.decoupled:
                g = g + h["weight_decay"] * p
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            delta = (self.m[i] / (1 - b1 ** self.t)) / (
                np.sqrt(self.v[i] / (1 - b2 ** self.t)) + h["eps"])
            if self.decoupled:
                delta = delta + h["weight_decay"] * p
            params[i] = p - h["lr"] * delta


class RefAdagrad:
    def __init__(self, params, lr=0.01, lr_decay=0.0, eps=1e-10, weight_decay=0.0):
        self.hyper = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay)
        self.sums = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params, grads):
        h = self.hyper
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g + h["weight_decay"] * p
            self.sums[i] = self.sums[i] + g * g
            clr = h["lr"] / (1 + (self.t - 1) * h["lr_decay"])
            params[i] = p - clr * g / np.sqrt(self.sums[i] + h["eps"])


def run_against_reference(make_opt, ref, steps=6, new_lr_at=None, seed=0, rtol=1e-5):
    """Drive a graphc optimizer and a reference with the same random gradients and check
    the parameters agree after every step. ``new_lr_at = (step, lr)`` changes the
    learning rate of both (through ``group["lr"]``) before that step."""
    import graphc

    rng = np.random.default_rng(seed)
    shapes = [(3, 2), (2,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [graphc.Parameter(a) for a in init]
    opt = make_opt(params)
    ref_params = [a.astype(np.float64) for a in init]
    for t in range(steps):
        if new_lr_at is not None and t == new_lr_at[0]:
            for group in opt.param_groups:
                group["lr"] = new_lr_at[1]
            ref.hyper["lr"] = new_lr_at[1]
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = graphc.tensor(g)
        assert opt.step() is opt
        opt.clear_grad()
        ref.step(ref_params, [g.astype(np.float64) for g in grads])
        for p, r in zip(params, ref_params):
            np.testing.assert_allclose(p.numpy(), r, rtol=rtol, atol=1e-6,
                                       err_msg=f"after step {t + 1}")
    return params, ref_params
