"""The uniform face of the benchmark models: a :class:`ModelSpec` names a model's graphc
constructor, its PyTorch twin's, an input maker and the loss, so a benchmark or a test
runs "one training step" of any model the same way; :func:`copy_to_twin` gives the twin
the graphc model's values, so both compute the same loss on the same batch.

>>> import graphc.module as M
>>> spec = ModelSpec("mlp", lambda classes=10: M.Sequential(M.Linear(8, classes)),
...                  None, image_batch, classification_loss,
...                  full=Size({}, {"shape": (8,)}), tiny=Size({"classes": 3},
...                  {"shape": (8,), "classes": 3}))
>>> inputs, target = spec.batch(4, tiny=True)
>>> float(train_step(spec, spec.model(tiny=True), inputs, target)().item()) > 0
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.optimizer import SGD

__all__ = ["Batch", "ModelSpec", "Size", "classification_loss", "copy_to_twin",
           "image_batch", "to_graphc", "to_torch", "torch_classification_loss", "train_step"]

Batch = tuple[tuple[np.ndarray, ...], np.ndarray]  # (model inputs, targets)


@dataclasses.dataclass(frozen=True)
class Size:
    """One size of a model: keyword arguments of its constructors and of its input maker."""

    options: Mapping[str, Any]
    inputs: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A benchmark model, written once in graphc and once in PyTorch.

    ``build(**options)`` and ``build_twin(**options)`` construct the two (the twin with
    the same layers and parameter names); ``make_inputs(batch, seed, **inputs)`` returns
    NumPy inputs and targets; ``loss(outputs, targets)`` and ``twin_loss`` are the
    training losses. ``full`` is the published size, ``tiny`` one for quick tests;
    ``published_params`` the published parameter count of ``full``.
    """

    name: str
    build: Callable[..., M.Module]
    build_twin: Callable[..., Any] | None
    make_inputs: Callable[..., Batch]
    loss: Callable[[Any, Any], graphc.Tensor]
    twin_loss: Callable[[Any, Any], Any] | None = None
    full: Size = Size({}, {})
    tiny: Size = Size({}, {})
    published_params: int | None = None

    def size(self, tiny: bool = False) -> Size:
        return self.tiny if tiny else self.full

    def model(self, tiny: bool = False) -> M.Module:
        """The graphc model (initialised from ``graphc.random``'s seed)."""
        return self.build(**self.size(tiny).options)

    def twin(self, tiny: bool = False):
        """The PyTorch twin (imports torch)."""
        return self.build_twin(**self.size(tiny).options)

    def batch(self, batch: int, tiny: bool = False, seed: int = 0) -> Batch:
        """A batch of ``batch`` samples, the same for the same seed."""
        return self.make_inputs(batch, seed, **self.size(tiny).inputs)


def image_batch(batch: int, seed: int = 0, shape: tuple[int, ...] = (3, 224, 224),
                classes: int = 1000) -> Batch:
    """Standard-normal float32 images of ``shape`` and int32 labels below ``classes``.

    >>> (x,), y = image_batch(2, shape=(1, 4, 4), classes=5)
    >>> x.shape, x.dtype, y.shape, y.dtype
    ((2, 1, 4, 4), dtype('float32'), (2,), dtype('int32'))
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    return (x,), rng.integers(0, classes, batch).astype(np.int32)


def classification_loss(logits, target) -> graphc.Tensor:
    """Mean cross-entropy of logits (..., classes) against integer targets (...)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def torch_classification_loss(logits, target):
    """:func:`classification_loss` in PyTorch."""
    import torch

    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             target.reshape(-1).long())


def to_graphc(arrays, device: Any = None) -> tuple[graphc.Tensor, ...]:
    """NumPy arrays as graphc tensors."""
    return tuple(graphc.tensor(a, device=device) for a in arrays)


def to_torch(arrays) -> tuple:
    """NumPy arrays as PyTorch tensors (integers as int64, which torch indexes with)."""
    import torch

    return tuple(torch.from_numpy(np.asarray(a, np.int64) if np.asarray(a).dtype.kind in "iu"
                                  else np.array(a)) for a in arrays)


def copy_to_twin(model: M.Module, twin):
    """Copy ``model``'s parameters and buffers (BN statistics) into the PyTorch ``twin``,
    name for name, reshaped to the twin's layout (MegEngine's (1, C, 1, 1) BN and conv
    biases, grouped (G, O/G, C/G, KH, KW) conv weights). Returns ``twin``. The twin must
    have exactly the model's names (its ``num_batches_tracked`` counters aside)."""
    import torch

    ours = dict(model.named_parameters())
    ours.update(model.named_buffers())
    theirs = {k: v for k, v in twin.state_dict().items()
              if not k.endswith("num_batches_tracked")}
    if set(ours) != set(theirs):
        raise ValueError(f"copy_to_twin: names differ: only in graphc "
                         f"{sorted(set(ours) - set(theirs))}, only in the twin "
                         f"{sorted(set(theirs) - set(ours))}")
    with torch.no_grad():
        for name, value in ours.items():
            target = theirs[name]
            array = value.numpy()
            if array.size != target.numel():
                raise ValueError(f"copy_to_twin: {name} has shape {array.shape} in graphc "
                                 f"and {tuple(target.shape)} in the twin")
            target.copy_(torch.from_numpy(array.reshape(tuple(target.shape))))
    return twin


def train_step(spec: ModelSpec, model: M.Module, inputs, target, lr: float = 0.01,
               momentum: float = 0.0, device: Any = None) -> Callable[[], graphc.Tensor]:
    """One lazy SGD training step per call (forward, ``spec.loss``, backward, update),
    returning the step's loss; the batch is converted to graphc tensors once."""
    params = list(model.parameters())
    gm = GradManager().attach(params)
    opt = SGD(params, lr=lr, momentum=momentum)
    xs, y = to_graphc(inputs, device), graphc.tensor(target, device=device)

    def step() -> graphc.Tensor:
        with gm:
            loss = spec.loss(model(*xs), y)
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    return step
