"""``graphc run model.graphc --input x=input.npy``: run a dumped function from the shell.

Inputs are ``.npy`` files (read with ``allow_pickle=False``), given by input name or in
order; each output is written as ``<output name>.npy`` in ``--out`` (atomically).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

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
    """The ``run`` command: load, call, write outputs; errors are one line on stderr."""
    from . import load_function
    from .errors import TraceError

    try:
        fn = load_function(args.model)
        positional, named = [], {}
        for item in args.input:
            name, sep, path = item.partition("=")
            value = np.load(path if sep else name, allow_pickle=False)
            if sep:
                named[name] = value
            else:
                positional.append(value)
        values = fn(*positional, **named)
    except (OSError, ValueError, TraceError) as err:
        print(f"graphc run: {err}", file=sys.stderr)
        return 1
    leaves = _leaves(values)
    names = [n for n in fn.output_names if not n.startswith("update:")]
    os.makedirs(args.out, exist_ok=True)
    for name, value in zip(names, leaves):
        target = os.path.join(args.out, f"{_safe(name)}.npy")
        _save_npy(target, value)
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


def _save_npy(path: str, value: np.ndarray) -> None:
    """Write one .npy atomically (a temporary file, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, value, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
