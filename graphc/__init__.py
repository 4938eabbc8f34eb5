"""graphc: a lazy computational-graph compiler with MegEngine's programming model.

>>> import graphc
>>> import graphc.functional as F
>>> x = graphc.tensor([1., 2., 3.])
>>> y = F.relu(x * 2 - 3)     # a graph of nodes; nothing has run yet
>>> y.numpy()                 # realizes the pending graph
array([0., 1., 3.], dtype=float32)
"""

# First: sets threading defaults before any parallel kernel starts OpenMP threads.
from .runtime import threads as _threads  # noqa: I001, F401
from .runtime import process_exit as _process_exit  # noqa: I001, F401

from . import data, functional, lazy, module, ops, optimizer, random
from .autodiff import grad
from .device import Device, get_default_device, set_default_device
from . import jit  # noqa: I001  (callable: @graphc.jit)
from .jit import TraceError, function, load_function, placeholder
from .ir import DTypeError, GraphcError, OpError, ShapeError
from .runtime.explain import explain
from .limits import LoadLimits
from .serialization import load, save
from .tensor import Parameter, Tensor, realize, tensor

__version__ = "0.1.0"

__all__ = [
    "DTypeError", "Device", "GraphcError", "OpError", "Parameter", "ShapeError", "Tensor",
    "__version__", "data", "explain", "functional", "grad", "get_default_device", "lazy",
    "load", "module", "ops", "optimizer", "random", "realize", "save", "set_default_device",
    "tensor", "jit", "placeholder", "function", "TraceError", "load_function", "LoadLimits",
]
