"""graphc: a lazy computational-graph compiler with MegEngine's programming model.

>>> import graphc
>>> import graphc.functional as F
>>> x = graphc.tensor([1., 2., 3.])
>>> y = F.relu(x * 2 - 3)     # a graph of nodes; nothing has run yet
>>> y.numpy()                 # realizes the pending graph
array([0., 1., 3.], dtype=float32)
"""

from . import functional, lazy, ops
from .autodiff import grad
from .device import Device, get_default_device, set_default_device
from .ir import DTypeError, GraphcError, OpError, ShapeError
from .runtime.explain import explain
from .tensor import Parameter, Tensor, realize, tensor

__version__ = "0.1.0"

__all__ = [
    "DTypeError", "Device", "GraphcError", "OpError", "Parameter", "ShapeError", "Tensor",
    "__version__", "explain", "functional", "grad", "get_default_device", "lazy", "ops", "realize",
    "set_default_device", "tensor",
]
