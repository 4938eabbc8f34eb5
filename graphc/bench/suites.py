"""The built-in cases of ``graphc bench``: each suite is a case source like a user's file
(graphc/bench/case.py), with every system it has written on identical inputs and
initial weights.

Kernel suites (a lazy graph built and realized per call, what a user's code pays):
``elementwise`` (tanh GELU of ``x*w+b``), ``reduction`` (``sum(x*y)``), ``softmax``
and ``layernorm`` (rows of 1024) and ``attention`` (scaled dot-product, 8 heads).
Training suites (forward, cross-entropy, backward, SGD update per call): ``mlp-train``
(784-512-512-10), ``lenet-train``, ``resnet18-train``, ``shufflenet-train`` and
``bert-train`` (graphc/bench/models and their PyTorch twins). ``quick`` picks sizes that
run in a fraction of the time.

>>> sorted(SUITES)[:3], SUITES["softmax"].size(quick=True)
(['attention', 'bert-train', 'elementwise'], (256, 256))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from .case import Case

__all__ = ["SUITES"]

LR = 0.01
# A training step's first loss, compared across systems: float32 sums in another order
# through 18 layers and batch norms move a ResNet-18 loss by about 1e-3 (torch.compile
# against graphc, measured); a wrong model moves it by far more.
TRAIN_RTOL, TRAIN_ATOL = 2e-3, 1e-3


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _graphc_inputs(arrays, device: str) -> tuple:
    import graphc

    return tuple(graphc.tensor(a, device="gpu0" if device == "gpu" else None) for a in arrays)


def _torch_inputs(arrays, device: str) -> tuple:
    import torch

    tensors = tuple(torch.from_numpy(np.array(a)) for a in arrays)
    return tuple(t.cuda() for t in tensors) if device == "gpu" else tensors


def _jax_inputs(arrays, device: str) -> tuple:
    import jax.numpy as jnp

    return tuple(jnp.asarray(a) for a in arrays)


def _torch_compiled(fn: Callable, compiled: bool) -> Callable:
    import torch

    return torch.compile(fn) if compiled else fn


def kernel_suite(label: str, sizes: tuple, make: Callable[[Any], list[np.ndarray]],
                 graphc_fn: Callable, numpy_fn: Callable, torch_fn: Callable,
                 jax_fn: Callable, rtol: float = 1e-4, atol: float = 1e-5) -> SimpleNamespace:
    """A suite of one kernel written four times; ``sizes`` = (full, quick) and
    ``make(size)`` the NumPy inputs every system starts from."""

    def size(quick: bool = False):
        return sizes[1] if quick else sizes[0]

    def case(fn, convert):
        def provider(quick: bool = False, device: str = "cpu", compiled: bool = False):
            arrays = make(size(quick))
            inputs = convert(arrays, device) if convert else tuple(arrays)
            f = _torch_compiled(fn, compiled) if convert is _torch_inputs else fn
            name = f"{label} (quick: {size(True)})" if quick else label
            return Case(f, inputs, rtol=rtol, atol=atol, label=name)
        return provider

    return SimpleNamespace(label=label, size=size, graphc_case=case(graphc_fn, _graphc_inputs),
                           numpy_case=case(numpy_fn, None),
                           torch_case=case(torch_fn, _torch_inputs),
                           jax_case=case(jax_fn, _jax_inputs))


# ---- kernels ---------------------------------------------------------------------------

def _gelu_inputs(n: int) -> list[np.ndarray]:
    rng = _rng()
    return [rng.standard_normal(n).astype(np.float32),
            np.full(n, 0.9, np.float32), np.full(n, 0.1, np.float32)]


def _graphc_gelu(x, w, b):
    import graphc.functional as F

    return F.gelu(x * w + b, "tanh")


def _numpy_gelu(x, w, b):
    from .kernels import numpy_gelu_tanh

    return numpy_gelu_tanh(x, w, b, np.empty_like(x), np.empty_like(x))


def _torch_gelu(x, w, b):
    import torch

    return torch.nn.functional.gelu(x * w + b, approximate="tanh")


def _jax_gelu(x, w, b):
    import jax

    return jax.nn.gelu(x * w + b, approximate=True)


def _pair(n: int) -> list[np.ndarray]:
    rng = _rng()
    return [rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)]


def _rows(shape: tuple[int, int]) -> list[np.ndarray]:
    return [_rng().standard_normal(shape).astype(np.float32)]


def _graphc_softmax(x):
    import graphc.functional as F

    return F.softmax(x, axis=1)


def _numpy_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _torch_softmax(x):
    import torch

    return torch.softmax(x, dim=1)


def _jax_softmax(x):
    import jax

    return jax.nn.softmax(x, axis=1)


def _norm_inputs(shape: tuple[int, int]) -> list[np.ndarray]:
    rng = _rng()
    return [rng.standard_normal(shape).astype(np.float32),
            rng.standard_normal(shape[1]).astype(np.float32),
            rng.standard_normal(shape[1]).astype(np.float32)]


def _graphc_layernorm(x, w, b):
    import graphc.functional as F

    return F.layer_norm(x, x.shape[-1], weight=w, bias=b, eps=1e-5)


def _numpy_layernorm(x, w, b):
    mean = x.mean(axis=1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=1, keepdims=True)
    return centred / np.sqrt(var + np.float32(1e-5)) * w + b


def _torch_layernorm(x, w, b):
    import torch

    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, 1e-5)


def _jax_layernorm(x, w, b):
    import jax.numpy as jnp

    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * w + b


def _qkv(shape: tuple[int, int, int, int]) -> list[np.ndarray]:
    rng = _rng()
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]


def _graphc_attention(q, k, v):
    import graphc.functional as F

    scores = F.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(q.shape[-1]))
    return F.matmul(F.softmax(scores, axis=-1), v)


def _numpy_attention(q, k, v):
    scores = q @ k.swapaxes(-1, -2) * np.float32(1.0 / math.sqrt(q.shape[-1]))
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ v


def _torch_attention(q, k, v):
    import torch

    scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.softmax(scores, dim=-1) @ v


def _jax_attention(q, k, v):
    import jax

    scores = q @ k.swapaxes(-1, -2) * (1.0 / math.sqrt(q.shape[-1]))
    return jax.nn.softmax(scores, axis=-1) @ v


# ---- training steps ----------------------------------------------------------------------

def _graphc_model(name: str, quick: bool):
    """The graphc model (seeded) of a training suite, and its batch."""
    import graphc

    from .models import MODELS
    from .training import data, mlp

    graphc.random.seed(0)
    if name == "mlp":
        return mlp(), data(16 if quick else 128, (784,))
    spec = MODELS[name]
    return spec.model(tiny=quick), spec.batch(TRAIN_BATCH[name][quick], tiny=quick)


TRAIN_BATCH = {"lenet5": (64, 8), "resnet18": (2, 2), "shufflenet_v2_x0_5": (2, 2),
               "bert_small": (8, 4)}


def _graphc_loss(name: str):
    import graphc.functional as F

    from .models import MODELS

    return F.cross_entropy if name == "mlp" else MODELS[name].loss


def train_suite(label: str, name: str, numpy_step: Callable | None = None,
                jax_step: Callable | None = None) -> SimpleNamespace:
    """A training-step suite of model ``name`` (graphc/bench/models, or ``"mlp"``): graphc
    and PyTorch (eager and compiled) from the same initial weights; ``numpy_step`` and
    ``jax_step`` (model, x, y) -> step make the by-hand versions where there are."""

    def graphc_case(quick: bool = False, device: str = "cpu"):
        from .models.spec import ModelSpec, train_step

        model, (inputs, target) = _graphc_model(name, quick)
        if name == "mlp":
            inputs = (inputs,)
        spec = ModelSpec(name, None, None, None, _graphc_loss(name))
        dev = "gpu0" if device == "gpu" else None
        step = train_step(spec, model, inputs, target, lr=LR, device=dev)
        return Case(step, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, label=label + " (quick: tiny)" * quick)

    def torch_case(quick: bool = False, device: str = "cpu", compiled: bool = False):
        import torch

        from .models import MODELS, copy_to_twin, to_torch
        from .models.spec import torch_classification_loss

        model, (inputs, target) = _graphc_model(name, quick)
        if name == "mlp":
            nn = torch.nn
            twin = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                                 nn.ReLU(), nn.Linear(512, 10))
            inputs = (inputs,)
        else:
            twin = MODELS[name].twin(quick)
        copy_to_twin(model, twin)
        xs, (y,) = to_torch(inputs), to_torch([target])
        if device == "gpu":
            twin, xs, y = twin.cuda(), tuple(x.cuda() for x in xs), y.cuda()
        forward = torch.compile(twin) if compiled else twin
        opt = torch.optim.SGD(twin.parameters(), lr=LR)

        def step():
            opt.zero_grad()
            loss = torch_classification_loss(forward(*xs), y)
            loss.backward()
            opt.step()
            return loss.detach()

        return Case(step, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, label=label)

    suite = SimpleNamespace(label=label, graphc_case=graphc_case, torch_case=torch_case)
    if numpy_step is not None:
        def numpy_case(quick: bool = False):
            model, (x, y) = _graphc_model(name, quick)
            return Case(numpy_step(model, x, y), rtol=TRAIN_RTOL, atol=TRAIN_ATOL, label=label)
        suite.numpy_case = numpy_case
    if jax_step is not None:
        def jax_case(quick: bool = False):
            model, (x, y) = _graphc_model(name, quick)
            return Case(jax_step(model, x, y), rtol=TRAIN_RTOL, atol=TRAIN_ATOL, jit=False,
                        label=label)
        suite.jax_case = jax_case
    return suite


def _dense_weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """A Sequential's Linear layers as (weight (in, out), bias) NumPy pairs, in order."""
    import graphc.module as M

    return [(np.ascontiguousarray(m.weight.numpy().T), m.bias.numpy().copy())
            for m in model if isinstance(m, M.Linear)]


def _numpy_mlp(model, x, y):
    from .training import numpy_mlp_step

    return numpy_mlp_step(x, y, _dense_weights(model))


def _numpy_lenet(model, x, y):
    from .training import numpy_lenet_step

    (c1, c1b), (c2, c2b) = [(m.weight.numpy().copy(), m.bias.numpy().reshape(-1).copy())
                            for m in (model[0], model[3])]
    (f1, f1b), (f2, f2b), (f3, f3b) = _dense_weights(model)
    params = {"c1": c1, "c1b": c1b, "c2": c2, "c2b": c2b, "f1": f1, "f1b": f1b,
              "f2": f2, "f2b": f2b, "f3": f3, "f3b": f3b}
    return numpy_lenet_step(x[0], y, params)


def _jax_mlp(model, x, y):
    """The MLP step in JAX (graphc/bench/jit.py): value and gradient, SGD, one jit."""
    from .jit import jax_step

    return jax_step(x, y, _dense_weights(model))


SUITES: dict[str, SimpleNamespace] = {
    "elementwise": kernel_suite("gelu(x*w+b) tanh, 16M float32", (16 << 20, 1 << 18),
                                _gelu_inputs, _graphc_gelu, _numpy_gelu, _torch_gelu,
                                _jax_gelu),
    "reduction": kernel_suite("sum(x*y), 16M float32", (16 << 20, 1 << 18), _pair,
                              lambda x, y: (x * y).sum(), lambda x, y: np.sum(x * y),
                              lambda x, y: (x * y).sum(), lambda x, y: (x * y).sum(),
                              rtol=1e-3, atol=1e-2),
    "softmax": kernel_suite("softmax over rows, 4096x1024", ((4096, 1024), (256, 256)),
                            _rows, _graphc_softmax, _numpy_softmax, _torch_softmax,
                            _jax_softmax, atol=1e-6),
    "layernorm": kernel_suite("layer_norm over rows, 4096x1024", ((4096, 1024), (256, 256)),
                              _norm_inputs, _graphc_layernorm, _numpy_layernorm,
                              _torch_layernorm, _jax_layernorm, atol=1e-4),
    "attention": kernel_suite("attention, 4x8 heads, seq 256, dim 64",
                              ((4, 8, 256, 64), (1, 2, 32, 16)), _qkv, _graphc_attention,
                              _numpy_attention, _torch_attention, _jax_attention, atol=1e-4),
    "mlp-train": train_suite("MLP 784-512-512-10 train step, batch 128", "mlp",
                             _numpy_mlp, _jax_mlp),
    "lenet-train": train_suite("LeNet-5 train step, 64x1x28x28", "lenet5", _numpy_lenet),
    "resnet18-train": train_suite("ResNet-18 train step, 2x3x224x224", "resnet18"),
    "shufflenet-train": train_suite("ShuffleNet V2 x0.5 train step, 2x3x224x224",
                                    "shufflenet_v2_x0_5"),
    "bert-train": train_suite("BERT 2 layers, hidden 64, seq 16, train step, batch 8",
                              "bert_small"),
}
for _name, _suite in SUITES.items():
    _suite.name = _name
