"""``graphc viz``: export the graph of a dumped function or of a script's function.

``graphc viz model.graphc -o graph.svg --stage fused`` draws a function dumped with
``graphc.jit``/``graphc.function`` (loaded with ``graphc.load_function``);
``graphc viz train.py:step`` imports the user's script by path (its
``if __name__ == "__main__":`` block does not run), calls ``step()`` with no arguments and
draws the tensors it returns (a Tensor, or a list, tuple or dict of them).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from .export import FORMATS, export
from .graph_model import STAGES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphc viz``."""
    parser.add_argument("target", help="a dumped function (model.graphc) or "
                        "script.py:function (called with no arguments, returns tensors)")
    parser.add_argument("-o", "--output", help="output file; the suffix picks the format "
                        f"({', '.join('.' + f for f in FORMATS)}); default <name>-<stage>.svg")
    parser.add_argument("--stage", choices=STAGES, default="fused",
                        help="compiler stage to draw (default: fused)")
    parser.add_argument("--format", choices=FORMATS, help="override the output suffix")
    parser.add_argument("--group-by", choices=["module"], dest="group_by",
                        help="collapse each module scope into one node")


def run(args: argparse.Namespace) -> int:
    """Handle ``graphc viz``; returns the exit status (2 for a bad target)."""
    try:
        target, stem = load_target(args.target)
    except (OSError, ValueError, TypeError, AttributeError, ImportError) as exc:
        print(f"graphc viz: {exc}", file=sys.stderr)
        return 2
    output = args.output or f"{stem}-{args.stage}.{args.format or 'svg'}"
    path = export(target, output, stage=args.stage, format=args.format,
                  group_by=args.group_by)
    print(f"wrote {path} ({args.stage} stage)")
    return 0


def load_target(spec: str) -> tuple[Any, str]:
    """What ``spec`` names, and a file stem for the default output name.

    >>> load_target("missing.py")
    Traceback (most recent call last):
    ...
    ValueError: missing.py: name the function to call, as in missing.py:function
    """
    script, sep, func = spec.rpartition(":")
    if sep and script.endswith(".py"):
        return _call_script(Path(script), func), f"{Path(script).stem}-{func}"
    if spec.endswith(".py"):
        raise ValueError(f"{spec}: name the function to call, as in {spec}:function")
    from ..jit import load_function

    if not os.path.exists(spec):
        raise FileNotFoundError(f"{spec}: no such file")
    return load_function(spec), Path(spec).stem


def _call_script(script: Path, func: str) -> Any:
    if not script.is_file():
        raise FileNotFoundError(f"{script}: no such script")
    name = f"_graphc_viz_{script.stem}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ImportError(f"{script}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(script.resolve().parent))  # its own imports, as `python script`
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(script.resolve().parent))
    fn = getattr(module, func, None)
    if not callable(fn):
        raise AttributeError(f"{script} has no function {func!r}")
    result = fn()
    if isinstance(result, dict):
        result = list(result.values())
    from ..tensor import Tensor

    if isinstance(result, Tensor) or hasattr(result, "output_nodes") or (
            isinstance(result, (list, tuple)) and result
            and all(isinstance(t, Tensor) for t in result)):
        return result
    raise TypeError(f"{script}:{func}() returned {type(result).__name__}; return a Tensor or "
                    "a list, tuple or dict of Tensors")
