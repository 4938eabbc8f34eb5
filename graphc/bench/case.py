"""What ``graphc bench`` measures: a case, written once per system, and the systems that
run it.

A case source is a built-in suite (:mod:`graphc.bench.suites`) or the user's own Python
file. Either exports ``graphc_case()`` and, optionally, ``numpy_case()``,
``torch_case()`` and ``jax_case()``, each returning a :class:`Case` (or a
``(function, inputs)`` pair) on identical inputs and initial weights. A case function
may take the keyword arguments ``quick`` (a small size for a quick run), ``device``
(``"cpu"`` or ``"gpu"``) and, for ``torch_case``, ``compiled`` (build the variant the
``torch.compile`` system times; without it the harness wraps ``fn`` in
``torch.compile``).

>>> import numpy as np
>>> case = as_case((np.add, (np.ones(2), np.ones(2))), "numpy_case")
>>> to_numpy(case.fn(*case.inputs))
[array([2., 2.])]
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["SYSTEMS", "Case", "Prepared", "as_case", "installed", "load_source", "prepare",
           "to_numpy"]

# The systems, in the order tables list them; each takes its case from PROVIDER's function.
SYSTEMS = ("graphc", "numpy", "torch", "torch.compile", "jax")
PROVIDER = {"graphc": "graphc_case", "numpy": "numpy_case", "torch": "torch_case",
            "torch.compile": "torch_case", "jax": "jax_case"}
LIBRARY = {"graphc": "graphc", "numpy": "numpy", "torch": "torch", "torch.compile": "torch",
           "jax": "jax"}


@dataclasses.dataclass
class Case:
    """One system's version of a benchmark case: ``fn(*inputs)`` is one call (a step of
    training, a forward pass, a kernel); what it returns is compared across systems
    after the first call (within ``rtol``/``atol``) and then timed.

    ``jit``: for ``jax_case``, whether the harness wraps ``fn`` in ``jax.jit`` (set it
    False when ``fn`` calls jitted functions itself, as a training step that keeps its
    parameters between calls does). ``label``: how tables name the case.
    """

    fn: Callable[..., Any]
    inputs: tuple = ()
    rtol: float = 1e-4
    atol: float = 1e-5
    jit: bool = True
    label: str = ""


def as_case(value: Any, where: str) -> Case:
    """``value`` (a :class:`Case` or a ``(fn, inputs)`` pair) as a :class:`Case`;
    ``where`` names the function that returned it, for the error."""
    if isinstance(value, Case):
        return value
    if isinstance(value, tuple) and len(value) == 2 and callable(value[0]):
        inputs = value[1] if isinstance(value[1], (tuple, list)) else (value[1],)
        return Case(value[0], tuple(inputs))
    raise TypeError(f"graphc bench: {where}() returned {type(value).__name__}; expected "
                    f"graphc.bench.Case(fn, inputs) or a (fn, inputs) pair")


def load_source(target: str) -> ModuleType | SimpleNamespace:
    """The case source ``target``: a built-in suite's name or a path to a ``.py`` file
    (imported as a module of its own; it must define ``graphc_case``)."""
    from .suites import SUITES

    if target in SUITES:
        return SUITES[target]
    if not target.endswith(".py"):
        raise ValueError(f"graphc bench: unknown target {target!r}; expected a suite "
                         f"({', '.join(SUITES)}, all) or a path to a .py file")
    if not os.path.isfile(target):
        raise FileNotFoundError(f"graphc bench: no file {target!r}")
    name = "graphc_bench_user_" + os.path.basename(target)[:-3].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (dataclasses and pickling look modules up by name)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "graphc_case", None)):
        raise ValueError(f"graphc bench: {target} defines no graphc_case(); a user file "
                         f"exports graphc_case() and optionally torch_case(), jax_case(), "
                         f"numpy_case() (docs/benchmarking.md)")
    return module


def installed(system: str) -> bool:
    """Whether ``system``'s library can be imported here."""
    return importlib.util.find_spec(LIBRARY[system]) is not None


def call_case_function(fn: Callable, **options: Any) -> Any:
    """``fn(**options)``, passing only the options its signature takes."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    return fn(**{k: v for k, v in options.items() if takes_all or k in params})


def _flat(value: Any) -> list:
    """The leaves of ``value`` (tuples, lists and dicts by sorted key), in order."""
    if isinstance(value, dict):
        return [a for k in sorted(value) for a in _flat(value[k])]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    return [] if value is None else [value]


def _array(value: Any) -> np.ndarray:
    module = type(value).__module__
    if module.startswith("torch"):
        return value.detach().cpu().numpy()
    if module.startswith("graphc"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def to_numpy(value: Any) -> list[np.ndarray]:
    """Every array in ``value`` (a tensor of any system, or tuples, lists and dicts of
    them) as NumPy arrays, in order."""
    return [_array(v) for v in _flat(value)]


@dataclasses.dataclass
class Prepared:
    """A system ready to time: ``call()`` runs one call and waits for it to finish."""

    system: str
    case: Case
    call: Callable[[], Any]


def prepare(system: str, source: Any, quick: bool, device: str) -> Prepared | None:
    """``system``'s case from ``source`` made callable and synchronised; None when the
    source does not provide it."""
    provider = getattr(source, PROVIDER[system], None)
    if provider is None:
        return None
    options = {"quick": quick, "device": device}
    if system == "torch.compile":
        options["compiled"] = True
    case = as_case(call_case_function(provider, **options), PROVIDER[system])
    fn, inputs = case.fn, case.inputs
    if system == "graphc":
        import graphc

        synchronize = None
        if device == "gpu":
            from .gpu import synchronize

        def call():
            out = fn(*inputs)
            tensors = [t for t in _flat(out) if isinstance(t, graphc.Tensor)]
            if tensors:
                graphc.realize(*tensors)
            if synchronize is not None:
                synchronize()
            return out
    elif system in ("torch", "torch.compile"):
        import torch

        if system == "torch.compile" and "compiled" not in _parameters(provider):
            fn = torch.compile(fn)
        synchronize = torch.cuda.synchronize if device == "gpu" else None

        def call():
            out = fn(*inputs)
            if synchronize is not None:
                synchronize()
            return out
    elif system == "jax":
        import jax

        if device == "gpu" and jax.default_backend() != "gpu":
            raise RuntimeError(f"JAX runs on {jax.default_backend()} here, not the GPU "
                               f"(install jax with CUDA to compare it on the GPU)")
        if case.jit:
            fn = jax.jit(fn)

        def call():
            return jax.block_until_ready(fn(*inputs))
    else:
        def call():
            return fn(*inputs)
    return Prepared(system, case, call)


def _parameters(fn: Callable) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()
