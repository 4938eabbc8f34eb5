"""Define-then-run: placeholders, compiled functions, ``@graphc.jit``, dumped graphs.

- :func:`placeholder` and :func:`function`: build a graph once from typed inputs and
  compile it into a :class:`CompiledFunction` called on NumPy arrays;
- ``graphc.jit``: this package is callable. ``@graphc.jit`` (or ``graphc.jit(fn,
  check=False)``) traces a Python function per input signature (GradManager, optimizer
  steps and state updates included) and replays its compiled Program;
- :meth:`CompiledFunction.dump` and :func:`load_function`: ship a compiled function to
  a process without the model's code (JSON graph plus ``.npz`` weights, no pickle);
- :class:`trace`, :func:`exclude_from_trace`, :func:`is_tracing`: MegEngine's
  ``jit.trace`` API on the same machinery (:mod:`graphc.jit.tracing`).

See docs/define-then-run.md.
"""

import sys
import types

from .decorator import JitFunction, jit
from .errors import TraceError
from .function import CompiledFunction, function
from .load import load_function
from .placeholder import placeholder
from .tracing import DumpResult, exclude_from_trace, is_tracing, partial_trace, trace

__all__ = ["CompiledFunction", "DumpResult", "JitFunction", "TraceError",
           "exclude_from_trace", "function", "is_tracing", "jit", "load_function",
           "partial_trace", "placeholder", "trace"]


class _CallableModule(types.ModuleType):
    """``graphc.jit`` is both this package and the decorator."""

    def __call__(self, fn=None, *, check: bool = False, name: str | None = None):
        return jit(fn, check=check, name=name)


sys.modules[__name__].__class__ = _CallableModule
