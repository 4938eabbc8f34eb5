"""Dumped functions from the shell: ``graphc run model.graphc --input x=input.npy`` runs
one; ``graphc precompile model.graphc`` compiles its kernels into the kernel cache ahead
of its first real call.

``run``'s inputs are ``.npy`` files (read within :class:`graphc.LoadLimits`, never unpickled),
given by input name or in order; each output is written as ``<output name>.npy`` in
``--out`` (atomically, with the mode the umask gives). A bad file or input is one line
on stderr and exit status 2 (see :mod:`graphc.cli`).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` command to the ``graphc`` parser."""
    run = subparsers.add_parser(
        "run", help="run a dumped compiled function on .npy inputs",
        description="Run a function written by CompiledFunction.dump; outputs are written "
                    "as <name>.npy files.")
    run.add_argument("model", help="the dumped function (e.g. model.graphc)")
    run.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                     help="an input by name (or FILE.npy alone, in order); repeatable")
    run.add_argument("--out", "-o", default=".", help="folder for the outputs (default: .)")
    run.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """The ``run`` command: load, call, write outputs (errors: see the module docstring)."""
    from ..arrayfile import read_npy
    from ..fileio import atomic_write
    from ..limits import LoadLimits
    from . import load_function

    limits = LoadLimits()
    fn = load_function(args.model, limits=limits)
    positional, named = [], {}
    for item in args.input:
        name, sep, path = item.partition("=")
        path = path if sep else name
        try:
            value = read_npy(path, f"input {path!r}", limits)
        except FileNotFoundError:
            raise FileNotFoundError(f"input {path!r}: no such file") from None
        if sep:
            named[name] = value
        else:
            positional.append(value)
    values = fn(*positional, **named)
    leaves = _leaves(values)
    names = [n for n in fn.output_names if not n.startswith("update:")]
    os.makedirs(args.out, exist_ok=True)
    for name, value in zip(names, leaves):
        target = os.path.join(args.out, f"{_safe(name)}.npy")
        atomic_write(target, lambda f, v=value: np.save(f, v, allow_pickle=False))
        print(f"{name}: {value.dtype.name}{list(value.shape)} -> {target}")
    return 0


def _leaves(values: object) -> list[np.ndarray]:
    if isinstance(values, np.ndarray):
        return [values]
    if isinstance(values, dict):
        return [v for x in values.values() for v in _leaves(x)]
    if isinstance(values, (tuple, list)):
        return [v for x in values for v in _leaves(x)]
    return []


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "output"


def register_precompile(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``precompile`` command to the ``graphc`` parser."""
    ahead = subparsers.add_parser(
        "precompile", help="compile a dumped function's kernels into the cache ahead of use",
        description="Load a function written by CompiledFunction.dump and run it once on "
                    "zeros, so that every kernel of its Program is compiled into the kernel "
                    "cache (GRAPHC_CACHE_DIR): a later process that loads and calls it "
                    "compiles nothing. The file is not changed.")
    ahead.add_argument("model", help="the dumped function (e.g. model.graphc)")
    ahead.add_argument("--shape", action="append", default=[], metavar="NAME=D0,D1,...",
                       help="the shape of an input with symbolic dimensions; repeatable")
    ahead.set_defaults(handler=precompile)


def precompile(args: argparse.Namespace) -> int:
    """The ``precompile`` command: load, call once on zeros, report what was compiled.

    >>> import os, tempfile, graphc
    >>> from unittest import mock
    >>> x = graphc.placeholder((2, 3), name="x")
    >>> with tempfile.TemporaryDirectory() as d, mock.patch.dict(os.environ,
    ...                                                          GRAPHC_BACKEND="compiled"):
    ...     graphc.function([x], (x * 2).sum()).dump(f"{d}/m.graphc")
    ...     precompile(argparse.Namespace(model=f"{d}/m.graphc", shape=[]))  # doctest: +ELLIPSIS
    precompiled ...m.graphc: 1 kernel(s) (... new, ... from the cache, 0 library) in ... s
    0
    """
    from ..runtime.compiler import backend

    if backend() != "compiled":
        raise ValueError(f"GRAPHC_BACKEND={backend()}: nothing is compiled (unset it, or "
                         f"set it to compiled)")
    from . import load_function
    from .placeholder import display_shape

    fn = load_function(args.model)  # within the default LoadLimits
    names = fn.input_names
    given: dict[str, tuple[int, ...]] = {}
    for item in args.shape:
        name, sep, dims = item.partition("=")
        if not sep or name not in names:
            raise ValueError(f"--shape {item!r}: give NAME=D0,D1,... with NAME one of {names}")
        try:
            given[name] = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            raise ValueError(f"--shape {item!r}: the dimensions must be integers") from None
    inputs = {}
    for name, node in zip(names, fn.input_nodes):
        shape = given.get(name, display_shape(node.type.shape, fn.capture.probes))
        if not all(isinstance(d, int) for d in shape):
            raise ValueError(f"input {name!r} has symbolic dimensions "
                             f"{tuple('?' if d is None else d for d in shape)}: give its "
                             f"shape with --shape {name}=D0,D1,...")
        inputs[name] = np.zeros(shape, node.type.dtype)
    start = time.perf_counter()
    fn(**inputs)  # zeros index in range and divide without raising: any data will do
    seconds = time.perf_counter() - start
    program = fn._last.program if fn._last is not None else None
    counts = program.stats.get("compiled_kernels", {}) if program is not None else {}
    total = sum(counts.values())
    print(f"precompiled {args.model}: {total} kernel(s) ({counts.get('new', 0)} new, "
          f"{counts.get('from_cache', 0)} from the cache, {counts.get('library', 0)} library) "
          f"in {seconds:.1f} s")
    return 0
