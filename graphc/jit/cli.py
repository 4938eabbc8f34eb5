"""``graphc run model.graphc --input x=input.npy``: run a dumped function from the shell.

Inputs are ``.npy`` files (read within :class:`graphc.LoadLimits`, never unpickled),
given by input name or in order; each output is written as ``<output name>.npy`` in
``--out`` (atomically, with the mode the umask gives). A bad file or input is one line
on stderr and exit status 2 (see :mod:`graphc.cli`).
"""

from __future__ import annotations

import argparse
import os

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

