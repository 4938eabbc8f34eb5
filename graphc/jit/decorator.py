"""``@graphc.jit``: trace a Python function once per input signature, then replay it.

JAX's semantics: Tensor and NumPy-array arguments (also inside tuples, lists and dicts)
are inputs; every other argument is static and part of the signature, as are the
shapes, dtypes and devices of the inputs. The first call with a new signature runs the
Python body on placeholders (see :mod:`graphc.jit.capture`), compiles one Program for
everything it did (forward, GradManager backward, optimizer steps, state updates) and
runs it; later calls only run the Program.

``check=True`` runs the body again on every call (MegEngine's trace semantics) and
compares its op sequence with the trace, raising :class:`TraceError` at the first
difference; the compute still runs from the compiled Program.

>>> import graphc, graphc.functional as F
>>> @graphc.jit
... def scaled_relu(x, scale):
...     return F.relu(x) * scale
>>> scaled_relu(np.array([-1., 2.], np.float32), 3.0)
Tensor([0. 6.], device=xpux:0)
>>> scaled_relu.traces
1
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import lazy
from ..tensor import Tensor
from . import tree as trees
from .capture import Trace, Traced, arrays_of, trace_call, wrap_outputs
from .errors import TraceError
from .function import CompiledFunction
from .state import StateChanged

# Traced signatures kept per function (least recently traced dropped first).
MAX_SIGNATURES = 64
# Retraces in a row for changed Python-side state before jit says so, once.
_RETRACE_WARNING = 3


class JitFunction:
    """A traced, compiled function (what ``@graphc.jit`` returns). Call it like the
    original; ``traces`` counts traces; ``compiled`` is the :class:`CompiledFunction`
    of the latest call, whose ``graph``, ``explain()`` and ``stats`` are also available
    here; :meth:`dump` writes one traced signature, the one its example arguments
    select (or the only one)."""

    def __init__(self, fn: Callable, check: bool = False, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"graphc.jit: expected a function, got {type(fn).__name__}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.check = check
        self.name = name or getattr(fn, "__qualname__", repr(fn)).replace(".<locals>", "")
        self.traces = 0
        self._cache: dict[tuple, Traced] = {}
        self._latest: Traced | None = None
        self._state_retraces = 0
        try:
            self._signature = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    # -- calling --------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if lazy.active_traces():  # called from another traced function: trace inline
            return self.fn(*args, **kwargs)
        leaves: list = []
        key = _key(args, kwargs, leaves)
        traced = self._cache.get(key)
        if traced is None or (traced.guards or traced.grad_guards) and not traced.valid():
            return self._trace(key, traced, args, kwargs)
        if self._reruns(traced):
            return self._checked(traced, key, leaves, args, kwargs)
        return self._replay(traced, key, leaves, args, kwargs)

    def _replay(self, traced: Traced, key: tuple, leaves: list, args: tuple,
                kwargs: dict) -> Any:
        """Run ``traced``'s Program on the call's tensor ``leaves``."""
        self._latest = traced
        try:
            values = traced.entry.run(arrays_of(leaves, traced.dtypes))
        except StateChanged:
            return self._trace(key, traced, args, kwargs)
        return wrap_outputs(traced, values)

    def _trace(self, key: tuple, stale: Traced | None, args: tuple, kwargs: dict) -> Any:
        if stale is not None:
            self._state_retraces += 1
            if self._state_retraces == _RETRACE_WARNING:
                print(f"graphc.jit: {self.name} was traced again {_RETRACE_WARNING} times in "
                      f"a row because Python-side state it baked in changed (an optimizer "
                      f"hyper-parameter turned to or from zero, a .grad set to None or not); "
                      f"each such call "
                      f"runs the Python body. See docs/define-then-run.md.", file=sys.stderr)
        else:
            self._state_retraces = 0
        traced = self._run_trace(args, kwargs)
        self.traces += 1
        self._cache.pop(key, None)
        self._cache[key] = traced
        while len(self._cache) > MAX_SIGNATURES:
            self._cache.pop(next(iter(self._cache)))
        self._latest = traced
        result, traced.result = traced.result, None
        return result

    def _run_trace(self, args: tuple, kwargs: dict, expected: Traced | None = None,
                   check_only: bool = False) -> Traced | None:
        leaves: list = []
        names: list[str] = []
        tree = _flatten_args(args, kwargs, self._signature, leaves, names)
        traced = trace_call(self.fn, self.name, tree, leaves, names, self._hooks(expected),
                            self._constants, check_only)
        if traced is None:
            return None
        pins: list = []
        _key(args, kwargs, [], pins)
        traced.pins = pins  # objects keyed by identity stay alive with their trace
        return traced

    # What graphc.jit.trace (MegEngine's semantics) changes: the hooks a trace uses,
    # whether a call runs the body again, whether read-only state is captured as constants.
    _constants = False

    def _hooks(self, expected: Traced | None) -> Trace:
        """The hooks of a trace; ``expected``: the trace a checked call must repeat."""
        return Trace(self.name, expected)

    def _reruns(self, traced: Traced) -> bool:
        """Whether a call with a traced signature runs the Python body again."""
        return self.check

    def _checked(self, traced: Traced, key: tuple, leaves: list, args: tuple,
                 kwargs: dict) -> Any:
        """Run the body again, checked against ``traced`` (TraceError at the first
        difference, before anything runs), and run what it traced this time."""
        again = self._run_trace(args, kwargs, traced)
        self._latest = traced
        result, again.result = again.result, None
        return result

    # -- inspection (the latest call's compiled function) ---------------------------
    @property
    def compiled(self) -> CompiledFunction:
        if self._latest is None:
            raise TraceError(f"{self.name}: not traced yet; call it first")
        return self._latest.function

    @property
    def graph(self):
        return self.compiled.graph

    @property
    def stats(self) -> dict:
        return {**self.compiled.stats, "traces": self.traces, "signatures": len(self._cache)}

    @property
    def input_nodes(self):
        return self.compiled.input_nodes

    @property
    def output_nodes(self):
        return self.compiled.output_nodes

    @property
    def input_names(self) -> list[str]:
        return self.compiled.input_names

    @property
    def output_names(self) -> list[str]:
        return self.compiled.output_names

    def explain(self):
        return self.compiled.explain()

    def dump(self, path: str, *args: Any, **kwargs: Any) -> None:
        """Write one traced signature to ``path`` (a file holds one compiled function).

        With example arguments, the signature they select is written (it must have been
        traced: call the function with such arguments first). Without, the function must
        have exactly one traced signature; with several, TraceError lists them.

        >>> import graphc, os, tempfile
        >>> @graphc.jit
        ... def double(x):
        ...     return x * 2
        >>> _ = double(np.ones(2, np.float32)); _ = double(np.ones(3, np.float32))
        >>> path = os.path.join(tempfile.mkdtemp(), "double.graphc")
        >>> double.dump(path, np.zeros(3, np.float32))   # the (3,) signature
        >>> graphc.load_function(path).input_nodes[0].type.shape
        (3,)
        """
        if args or kwargs:
            traced = self._cache.get(_key(args, kwargs, []))
            if traced is None:
                raise TraceError(f"{self.name}.dump: {self.name} was not traced for "
                                 f"arguments like these ({_describe_args(args, kwargs)}); "
                                 f"call it with them first. Traced: {self._signatures()}")
        elif len(self._cache) == 1:
            traced = next(iter(self._cache.values()))
        elif not self._cache:
            raise TraceError(f"{self.name}.dump: not traced yet; call {self.name} first")
        else:
            raise TraceError(f"{self.name}.dump: {self.name} has {len(self._cache)} traced "
                             f"signatures ({self._signatures()}) and a file holds one: pass "
                             f"example arguments of the one to write, as in "
                             f"{self.name}.dump(path, x)")
        traced.function.dump(path)

    def _signatures(self) -> str:
        return "; ".join(_describe_inputs(t.function) for t in self._cache.values())

    def __repr__(self) -> str:
        return f"<graphc.jit {self.name} ({self.traces} trace(s))>"


def _describe_inputs(fn: CompiledFunction) -> str:
    """``x: float32[8, 3], y: int32[8]``: a traced signature's inputs."""
    return ", ".join(f"{name}: {n.type.dtype.name}{list(n.type.shape)}"
                     for name, n in zip(fn.input_names, fn.input_nodes)) or "no inputs"


def _describe_args(args: tuple, kwargs: dict) -> str:
    def one(v: Any) -> str:
        if isinstance(v, (Tensor, np.ndarray)):
            return f"{np.dtype(v.dtype).name}{list(v.shape)}"
        return type(v).__name__
    return ", ".join([one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()])


def _flatten_args(args: tuple, kwargs: dict, signature: inspect.Signature | None,
                  leaves: list, names: list[str]) -> tuple:
    """The tree of ``(args, kwargs)``, naming leaves by parameter (``x``, ``batch[0]``)."""
    params = list(signature.parameters.values()) if signature else []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    arg_trees = []
    for i, a in enumerate(args):
        label = params[i].name if i < len(params) and params[i].kind in positional \
            else f"args[{i}]"
        arg_trees.append(trees.flatten(a, leaves, names, label))
    kw_trees = tuple((k, trees.flatten(v, leaves, names, k)) for k, v in kwargs.items())
    return ("tuple", (("tuple", tuple(arg_trees)), ("dict", kw_trees)))


def _key(args: tuple, kwargs: dict, leaves: list, pins: list | None = None) -> tuple:
    """The signature of a call (collecting its tensor leaves in flatten order): input
    types and static values. Objects are keyed by identity (``pins`` collects them)."""
    key = []
    for a in args:
        if type(a) is np.ndarray:
            key.append((a.shape, a.dtype))
            leaves.append(a)
        elif isinstance(a, Tensor):
            key.append(a._node.type)
            leaves.append(a)
        else:
            key.append(_static_key(a, leaves, pins))
    for k in kwargs:
        key.append((k, _static_key(kwargs[k], leaves, pins)))
    return tuple(key)


def _static_key(value: Any, leaves: list, pins: list | None) -> Any:
    if type(value) is np.ndarray:
        leaves.append(value)
        return (value.shape, value.dtype)
    if isinstance(value, Tensor):
        leaves.append(value)
        return value._node.type
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return (type(value), value)
    if isinstance(value, np.generic):
        return (type(value), value.item())
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_static_key(v, leaves, pins) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((k, _static_key(v, leaves, pins)) for k, v in value.items()))
    if pins is not None:
        pins.append(value)
    return ("object", id(value))  # modules, optimizers: by identity


def jit(fn: Callable | None = None, *, check: bool = False, name: str | None = None) -> Any:
    """Trace ``fn`` per input signature into one compiled Program (``@graphc.jit`` or
    ``@graphc.jit(check=True)``). See :mod:`graphc.jit.decorator` and docs/define-then-run.md.

    >>> import graphc
    >>> double = graphc.jit(lambda t: t * 2)
    >>> double(graphc.tensor([1., 2.])).numpy()
    array([2., 4.], dtype=float32)
    """
    if fn is None:
        return lambda f: JitFunction(f, check=check, name=name)
    return JitFunction(fn, check=check, name=name)
