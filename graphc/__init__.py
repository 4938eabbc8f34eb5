"""graphc: a lazy computational-graph compiler with MegEngine's programming model.

>>> import graphc
>>> import graphc.functional as F
>>> x = graphc.tensor([1., 2., 3.])
>>> y = F.relu(x * 2 - 3)     # a graph of nodes; nothing has run yet
>>> y.numpy()                 # realizes the pending graph
array([0., 1., 3.], dtype=float32)

The public names below load the front end (tensor, functional, autodiff, ...) at their
first use (PEP 562), not when the package is imported: ``import graphc.ir`` runs this
file first, and the compiler's layers (ir, ops, passes, codegen, backends, runtime) must
be importable without the front end above them (docs/architecture.md, the layers).
"""

import importlib
import os
import sys
import types

from .ir.device import canonical_device_name
from .runtime import process_exit as _process_exit  # noqa: I001, F401

# First: sets threading defaults before any parallel kernel starts OpenMP threads.
from .runtime import threads as _threads  # noqa: I001, F401
from .version import __version__

# A misspelt GRAPHC_DEFAULT_DEVICE fails at `import graphc`, not at the first tensor
# (graphc.device, loaded with the front end, then makes it the default device).
if os.environ.get("GRAPHC_DEFAULT_DEVICE"):
    canonical_device_name(os.environ["GRAPHC_DEFAULT_DEVICE"])

__all__ = [
    "DTypeError", "Device", "GraphcError", "OpError", "Parameter", "ShapeError", "Tensor",
    "__version__", "data", "explain", "functional", "grad", "get_default_device", "lazy",
    "load", "module", "ops", "optimizer", "random", "realize", "save", "set_default_device",
    "tensor", "jit", "placeholder", "function", "TraceError", "load_function", "LoadLimits",
    "hub",
]
__all__ += ["config", "get_device_count", "is_cuda_available"]  # MegEngine's (issue 20)


def _load_front_end() -> dict[str, object]:
    """Import the front end and return every public name (what ``import graphc`` bound
    eagerly before the layers were separated)."""
    from . import (
        data,
        functional,
        jit,  # noqa: I001  (callable: @graphc.jit)
        lazy,
        module,
        ops,
        optimizer,
        random,
    )
    from .autodiff import grad
    from .device import (
        Device,
        get_default_device,
        get_device_count,
        is_cuda_available,
        set_default_device,
    )
    from .ir import DTypeError, GraphcError, OpError, ShapeError
    from .jit import TraceError, function, load_function, placeholder
    from .limits import LoadLimits
    from .runtime.explain import explain
    from .serialization import load, save
    from .tensor import Parameter, Tensor, realize, tensor

    return {name: value for name, value in locals().items() if name in __all__}


# Public names that are submodules: reached one by one, since a front-end module that
# imports a sibling (``from . import lazy``) asks this package for it mid-import, when the
# whole front end cannot load yet.
_SUBMODULES = frozenset({"config", "data", "functional", "hub", "jit", "lazy", "module",
                         "ops", "optimizer", "random"})


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        names = _load_front_end()
        globals().update(names)  # later lookups find them without calling this again
        return names[name]
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``graphc.tensor`` the function: importing the submodule ``graphc.tensor``
    (which any front-end module does) would otherwise bind the module over that name,
    as the import system sets a loaded submodule as an attribute of its package."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # sys.modules still holds the submodule: imports of it keep working
        super().__setattr__(name, value)


_SHADOWED = frozenset({"tensor"})  # public names that are not their submodule
sys.modules[__name__].__class__ = _Package
