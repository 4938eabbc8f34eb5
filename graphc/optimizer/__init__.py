"""``graphc.optimizer``: optimizers, learning-rate schedulers and gradient clipping.

Each ``step()`` realizes the pending forward, backward and update as one compiled Program;
changing a hyper-parameter (``group["lr"]``) reuses it.

>>> import graphc, graphc.optimizer as optim
>>> w = graphc.Parameter([1., -1.])
>>> opt = optim.SGD([w], lr=0.5, momentum=0.9)
>>> w.grad = graphc.tensor([1., 1.])
>>> opt.step().clear_grad()
>>> w.numpy(), w.grad is None
(array([ 0.5, -1.5], dtype=float32), True)
"""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip_grad import clip_grad_norm, clip_grad_value
from .lr_scheduler import CosineAnnealingLR, LRScheduler, MultiStepLR, StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler",
           "MultiStepLR", "Optimizer", "StepLR", "clip_grad_norm", "clip_grad_value"]
