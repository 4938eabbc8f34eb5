"""Automatic differentiation as a graph transform, ``GradManager`` and custom ``Function``.

Gradients are not a tape replayed in Python: :func:`grad` walks back from ``y`` over the
graph and calls each op's VJP rule (declared with the op in :mod:`graphc.ops`), which
emits ordinary nodes. They go through the same passes and fusion as the forward pass,
so forward, backward and update compile into one Program, and gradients of gradients
work because gradients are nodes like any other.

- :mod:`graphc.autodiff.gradients`: :func:`grad`, :class:`GradManager` and its groups;
- :mod:`graphc.autodiff.function`: :class:`Function`, user-written backward passes.

>>> import graphc, graphc.functional as F
>>> from graphc.autodiff import GradManager
>>> x = graphc.tensor([1., 3., 5.]).reshape(1, 3)
>>> w = graphc.tensor([2., 4., 6.]).reshape(3, 1)
>>> b = graphc.tensor(-1.)
>>> gm = GradManager().attach([w, b])
>>> with gm:
...     y = F.matmul(x, w) + b
...     gm.backward(y)
>>> w.grad.numpy().ravel().tolist(), b.grad.item()
([1.0, 3.0, 5.0], 1.0)
"""

from ..ops import vjp_graph  # noqa: F401  (graphc.autodiff.vjp_graph, as before)
from .function import Function
from .gradients import GradManager, GradManagerGroup, _recording, grad

__all__ = ["Function", "GradManager", "GradManagerGroup", "grad"]
