"""``graphc.jit.trace``: MegEngine's ``jit.trace``, built on ``@graphc.jit``.

``trace`` is a :class:`graphc.jit.JitFunction` (one trace and one compiled Program per
input signature, GradManager and optimizer steps included) with MegEngine's API and
semantics on top:

- ``symbolic=True`` is ``@graphc.jit``: the first call traces the body on placeholders
  (reading a value raises :class:`TraceError`), later calls only run the Program;
- ``symbolic=False`` (the default): the first call may read values (``.numpy()``,
  ``.item()``, ``if t:``): they are computed from the arguments (see
  :mod:`graphc.jit.reads`). Every later call runs the body again and checks that it
  builds the same ops and reads the same values ("trace error because ..." at the first
  difference, before anything runs), then runs the Program;
- ``with exclude_from_trace():`` code runs on every call (a body using one runs again
  on every call, in both modes) and its ops are not checked; reads inside are not
  guards;
- ``capture_as_const=True``: tensors the function reads but does not update are
  captured as constants (their values at the first call), so :meth:`trace.dump` writes
  a graph that needs nothing else.

>>> import graphc, graphc.functional as F
>>> from graphc.jit import trace
>>> @trace
... def f(x):
...     y = F.relu(x)
...     return y * 2 if y.sum().item() > 0 else y   # a read: allowed, guarded
>>> f(graphc.tensor([-1., 3.])).numpy()
array([0., 6.], dtype=float32)
>>> f(graphc.tensor([-2., 3.])).numpy()            # the same read value: replayed
array([0., 6.], dtype=float32)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import io
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import lazy
from ..ir import topo_order
from ..tensor import Tensor
from . import tree as trees
from .capture import Trace, Traced
from .decorator import JitFunction
from .errors import TraceError
from .function import CompiledFunction
from .reads import GuardedTrace


class DumpResult(NamedTuple):
    """What :meth:`trace.dump` wrote (MegEngine's ``CompGraphDumpResult`` fields)."""

    nr_opr: int  # nodes of the graph: inputs, constants and ops (not no-op identities)
    tot_bytes: int  # size of the file
    tensor_value_bytes: int  # bytes of the constants and state saved in it
    inputs: list[str]
    outputs: list[str]
    params: list[str]  # the state the function updates, saved with its values


class trace(JitFunction):  # noqa: N801  (MegEngine's name)
    """Trace ``function`` into a compiled Program (MegEngine's ``jit.trace``).

    Use it as ``@trace``, ``@trace(symbolic=True)`` or ``trace(fn, ...)``, and call it as
    the function. See the module docstring, and docs/define-then-run.md for the costs.
    ``without_host=True`` runs the body on the first call only (later calls run the
    Program, as ``symbolic=True`` does). Keywords of MegEngine that tune its own graph
    runtime (``opt_level``, ``graph_opt_config``, ``symbolic_shape``, ``imperative``)
    are accepted and change nothing here; those naming a feature graphc does not have
    (``record_only``, ``sublinear_memory_config``, ``dtr_config``, ``profiling``) raise
    NotImplementedError.

    >>> import graphc
    >>> @trace(symbolic=True)
    ... def add(a, b):
    ...     return a + b
    >>> add(graphc.tensor([1., 2.]), graphc.tensor([3., 4.])).numpy()
    array([4., 6.], dtype=float32)
    """

    def __new__(cls, function: Callable | None = None, **options: Any) -> Any:
        if function is None:  # @trace(symbolic=True): a decorator
            return functools.partial(cls, **options)
        return super().__new__(cls)

    def __init__(self, function: Callable, *, symbolic: bool = False,
                 capture_as_const: bool = False, record_only: bool = False,
                 sublinear_memory_config: Any = None, dtr_config: Any = None,
                 profiling: bool = False, opt_level: int = 2, graph_opt_config: Any = None,
                 symbolic_shape: bool = True, without_host: bool = False,
                 imperative: bool = False) -> None:
        refused = {"record_only": record_only, "sublinear_memory_config":
                   sublinear_memory_config is not None, "dtr_config": dtr_config is not None,
                   "profiling": profiling}
        for key, asked in refused.items():
            if asked:
                raise NotImplementedError(
                    f"graphc.jit.trace: {key}= is not supported: {_WHY_REFUSED[key]}")
        super().__init__(function)
        self.symbolic = bool(symbolic)
        self.capture_as_const = bool(capture_as_const)
        self.without_host = bool(without_host)

    @property
    def _constants(self) -> bool:  # (JitFunction's switch)
        return self.capture_as_const

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.capture_as_const and not lazy.active_traces():
            for value in (*args, *kwargs.values()):
                if not isinstance(value, Tensor):
                    raise TypeError(f"Only support tensor type args when capture_as_const "
                                    f"is enabled ({self.name} got a "
                                    f"{type(value).__name__})")
        return super().__call__(*args, **kwargs)

    def _hooks(self, expected: Traced | None) -> Trace:
        return GuardedTrace(self.name, self.symbolic, expected)

    def _reruns(self, traced: Traced) -> bool:
        # MegEngine runs the body on every call; graphc only where its semantics need
        # it: a non-symbolic trace (checks and guards) and exclude_from_trace blocks.
        return traced.excludes or not (self.symbolic or self.without_host)

    def _checked(self, traced: Traced, key: tuple, leaves: list, args: tuple,
                 kwargs: dict) -> Any:
        if self.capture_as_const and not traced.excludes:
            # The constants are the first call's: check the body, run the first Program.
            self._run_trace(args, kwargs, traced, check_only=True)
            return self._replay(traced, key, leaves, args, kwargs)
        return super()._checked(traced, key, leaves, args, kwargs)

    def dump(self, file: Any, *, arg_names: list[str] | None = None,
             output_names: list[str] | str | None = None, append: bool = False,
             keep_var_name: int = 1, keep_opr_name: bool = False,
             keep_param_name: bool = False, keep_opr_priority: bool = False,
             no_change_graph: bool = False, strip_info_file: Any = None,
             append_json: bool = False, optimize_for_inference: bool = True,
             user_info: Any = None, enable_metadata: bool = True, input_data: Any = None,
             repeat: int = 1, silent: bool = False, no_assert: bool = False,
             maxerr: float = 1e-4, resize_input: bool = False, input_transform: Any = None,
             dump_format: str | None = None, model_version: int = 2,
             compat_older_version: Any = None, **opt_flags: Any) -> DumpResult:
        """Write the traced function (of the latest call's signature) to ``file`` (a path
        or a binary file object) in graphc's format: JSON graph plus ``.npz`` weights,
        loadable with :func:`graphc.jit.load_function` in a process without the model's
        code. ``arg_names`` name the inputs (default: the parameter names);
        ``output_names`` name the outputs, which the loaded function then returns as a
        dict (MegEngine's graph loaders return outputs by name).

        Keywords about MegEngine's graph format (``keep_*``, ``optimize_for_inference``,
        ``enable_metadata``, ``no_change_graph``, ``silent``) are accepted: graphc's
        format keeps names and optimises when it compiles. Keywords asking for something
        this format does not have (appending, test cases, other formats, optimisation
        flags) are refused with NotImplementedError.

        >>> import graphc, os, tempfile
        >>> w = graphc.Parameter([1., 2.])
        >>> @trace(symbolic=True, capture_as_const=True)
        ... def scale(x):
        ...     return x * w
        >>> _ = scale(graphc.tensor([3., 4.]))
        >>> path = os.path.join(tempfile.mkdtemp(), "scale.graphc")
        >>> scale.dump(path, arg_names=["x"], output_names=["y"]).inputs
        ['x']
        >>> graphc.jit.load_function(path)(np.ones(2, np.float32))
        {'y': array([1., 2.], dtype=float32)}
        """
        refused = {"append": append, "strip_info_file": strip_info_file is not None,
                   "append_json": append_json, "user_info": user_info is not None,
                   "input_data": input_data is not None, "repeat": repeat != 1,
                   "no_assert": no_assert, "resize_input": resize_input,
                   "input_transform": input_transform is not None,
                   "dump_format": dump_format is not None, "model_version": model_version != 2,
                   "compat_older_version": compat_older_version is not None,
                   **{k: bool(v) for k, v in opt_flags.items()}}
        for key, asked in refused.items():
            if asked:
                raise NotImplementedError(
                    f"{self.name}.dump: {key}= has no meaning for graphc's dump format "
                    f"(one compiled function per file, JSON graph and .npz weights, "
                    f"optimised when it is loaded)")
        if not self.capture_as_const:
            raise ValueError("you must specify capture_as_const=True at __init__ to use dump")
        if self._latest is None:
            raise TraceError(f"{self.name}.dump: not traced yet; call {self.name} first")
        function = _renamed(self.name, self._latest.function, arg_names, output_names)
        if isinstance(file, (str, os.PathLike)):
            function.dump(os.fspath(file))
            return _result(function, os.path.getsize(file))
        if not hasattr(file, "write"):
            raise TypeError(f"{self.name}.dump: file must be a path or a binary file "
                            f"object, got {type(file).__name__}")
        buffer = io.BytesIO()  # the whole file first: its size is DumpResult.tot_bytes
        function.dump(buffer)
        data = buffer.getvalue()
        file.write(data)
        return _result(function, len(data))

    def __repr__(self) -> str:
        return (f"<graphc.jit.trace {self.name} (symbolic={self.symbolic}, "
                f"{self.traces} trace(s))>")


_WHY_REFUSED = {
    "record_only": "graphc traces and compiles together; use graphc.jit.trace and call it",
    "sublinear_memory_config": "graphc plans memory by liveness and has no recomputation "
                               "(sublinear memory) mode",
    "dtr_config": "graphc has no dynamic tensor rematerialisation",
    "profiling": "see graphc.explain and the function's .stats for what runs and its cost",
}


def _renamed(name: str, fn: CompiledFunction, arg_names: Any, output_names: Any
             ) -> CompiledFunction:
    """``fn`` with its inputs and outputs named as MegEngine's ``dump`` asks."""
    c = fn.capture
    if not c.outputs:
        raise ValueError(f"{name}.dump: the traced function returns no Tensor; a dumped "
                         f"function must return a Tensor, or a tuple, list or dict of them")
    input_names = list(c.input_names)
    if arg_names is not None:
        input_names = _names(name, "arg_names", arg_names, len(c.inputs), "input")
    tree = c.tree
    if output_names is not None:
        if isinstance(output_names, str):
            output_names = [output_names]
        named = _names(name, "output_names", output_names, len(c.outputs), "output")
        tree = ("dict", tuple((n, (trees.LEAF, i)) for i, n in enumerate(named)))
    if input_names == c.input_names and tree is c.tree:
        return fn
    return CompiledFunction(dataclasses.replace(c, input_names=input_names, tree=tree))


def _names(name: str, keyword: str, given: Any, n: int, what: str) -> list[str]:
    names = list(given)
    if len(names) != n or not all(isinstance(s, str) for s in names) or \
            len(set(names)) != n:
        raise ValueError(f"{name}.dump: {keyword} must be {n} different str, one per "
                         f"{what}, got {given!r}")
    return names


def _result(fn: CompiledFunction, size: int) -> DumpResult:
    c = fn.capture
    nodes = topo_order(list(c.inputs) + fn.output_nodes)
    saved = sum(np.asarray(n.buffer).nbytes for n in nodes
                if n.buffer is not None and n.op == "buffer" and n.uid not in c.draws)
    params = [ref.name or f"v{i}" for i, (ref, _) in enumerate(c.writes)]
    return DumpResult(sum(n.op != "identity" for n in nodes), size, saved, fn.input_names,
                      fn.output_names[:len(c.outputs)], params)


@contextlib.contextmanager
def exclude_from_trace() -> Iterator[None]:
    """Inside a traced function, run the block on every call, unchecked: its ops are not
    compared with the first call's and its value reads are not guards (they return the
    call's values, in symbolic traces too). Outside a trace it does nothing.

    >>> import graphc
    >>> from graphc.jit import trace
    >>> calls = []
    >>> @trace(symbolic=True)
    ... def f(x):
    ...     with exclude_from_trace():
    ...         calls.append(x.sum().item())
    ...     return x + 1
    >>> _ = f(graphc.tensor([1., 2.])); _ = f(graphc.tensor([5., 5.]))
    >>> calls
    [3.0, 10.0]
    """
    traces = lazy.active_traces()
    if not traces:
        yield
        return
    active = traces[-1]
    active.begin_excluded()
    try:
        yield
    finally:
        active.end_excluded()


def is_tracing() -> bool:
    """Whether the calling code runs inside a traced function (and not in an
    ``exclude_from_trace`` block).

    >>> import graphc
    >>> seen = []
    >>> f = graphc.jit.trace(lambda x: seen.append(is_tracing()) or x)
    >>> _ = f(graphc.tensor([1.])); seen, is_tracing()
    ([True], False)
    """
    traces = lazy.active_traces()
    return bool(traces) and not traces[-1].excluded


_TRACE_OPTIONS = frozenset(inspect.signature(trace.__init__).parameters) - {"self",
                                                                             "function"}


def partial_trace(func: Callable | None = None, *, backend: str = "default",
                  without_host: bool = True, trace_gmcallback: bool = True,
                  **trace_options: Any) -> Callable:
    """MegEngine's ``partial_trace``: compile a part of a network, its forward and its
    backward, for use inside an eager training step (a GradManager recording around it).

    MegEngine traces the part's forward and backward into two graphs of their own and
    ties them with a custom autodiff function. graphc compiles every step lazily, the
    part included: its forward and the backward GradManager builds through it join the
    step's graph and compile with it. So the function is returned as it is, after the
    same checks MegEngine makes: ``without_host`` must be True, the backend ``default``
    (graphc has no XLA backend), and every option one ``trace`` takes.

    >>> import graphc, graphc.functional as F
    >>> from graphc.autodiff import GradManager
    >>> w = graphc.Parameter([1., -2.])
    >>> @partial_trace
    ... def block(x):
    ...     return F.relu(x * w)
    >>> gm = GradManager().attach([w])
    >>> with gm:
    ...     gm.backward(block(graphc.tensor([3., 4.])).sum())
    >>> w.grad.numpy()
    array([3., 0.], dtype=float32)
    """
    assert without_host, "partial_trace only support without_host mode currently!"
    if backend != "default":
        raise NotImplementedError(f"graphc.jit.partial_trace: backend={backend!r} is not "
                                  f"supported (graphc has no xla backend; 'default' is)")
    unknown = sorted(set(trace_options) - _TRACE_OPTIONS)
    if unknown:
        raise TypeError(f"graphc.jit.partial_trace: unknown trace option(s) "
                        f"{', '.join(unknown)}")

    def wrapper(function: Callable) -> Callable:
        return function

    return wrapper if func is None else wrapper(func)
