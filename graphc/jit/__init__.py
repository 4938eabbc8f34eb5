"""Define-then-run: placeholders, compiled functions, ``@graphc.jit``, dumped graphs.

- :func:`placeholder` and :func:`function`: build a graph once from typed inputs and
  compile it into a :class:`CompiledFunction` called on NumPy arrays;
- ``graphc.jit``: this package is callable. ``@graphc.jit`` (or ``graphc.jit(fn,
  check=False)``) traces a Python function per input signature (GradManager, optimizer
  steps and state updates included) and replays its compiled Program;
- :meth:`CompiledFunction.dump` and :func:`load_function`: ship a compiled function to
  a process without the model's code (JSON graph plus ``.npz`` weights, no pickle).

See docs/define-then-run.md.
"""

import sys
import types

from .decorator import JitFunction, jit
from .errors import TraceError
from .function import CompiledFunction, function
from .load import load_function
from .placeholder import placeholder

__all__ = ["CompiledFunction", "JitFunction", "TraceError", "function", "jit",
           "load_function", "placeholder"]


class _CallableModule(types.ModuleType):
    """``graphc.jit`` is both this package and the decorator."""

    def __call__(self, fn=None, *, check: bool = False, name: str | None = None):
        return jit(fn, check=check, name=name)


sys.modules[__name__].__class__ = _CallableModule
