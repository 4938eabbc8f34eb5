"""The ``graphc`` command.

>>> main(["cache", "info"])             # doctest: +ELLIPSIS
cache dir: ...
kernels:   ...
files:     ...
size:      ...
0

Each command is a function that adds its subparser; ``@command`` registers it, so a new
command (viz, run, bench) is one decorated function here or in its own module, imported
below. A subparser sets ``handler=<function(args) -> int>`` through ``set_defaults``.

A user error (a bad file, a bad option, an input that does not fit) is one line on
stderr, ``graphc <command>: <what went wrong>``, and exit status 2: handlers raise
ValueError, OSError or a graphc error and :func:`main` reports it. ``GRAPHC_TRACEBACK=1``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

Registrar = Callable[["argparse._SubParsersAction"], None]

COMMANDS: dict[str, Registrar] = {}


def command(name: str) -> Callable[[Registrar], Registrar]:
    """Register ``register(subparsers)`` as the function that adds command ``name``.

    >>> @command("hello")
    ... def _hello(subparsers):
    ...     subparsers.add_parser("hello").set_defaults(handler=lambda args: print("hi"))
    >>> main(["hello"])
    hi
    0
    >>> del COMMANDS["hello"]     # leave the command table as it was
    """
    def register(registrar: Registrar) -> Registrar:
        if name in COMMANDS:
            raise ValueError(f"graphc command {name!r} is registered twice")
        COMMANDS[name] = registrar
        return registrar
    return register


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and subcommands parsed alike)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a command reports as one line (exit 2) rather than a traceback."""
    from graphc.ir import GraphcError

    return (ValueError, OSError, GraphcError)


def build_parser() -> argparse.ArgumentParser:
    """The ``graphc`` argument parser with every registered command.

    >>> build_parser().parse_args(["cache", "clear"]).handler.__name__
    '_cache_clear'
    """
    from graphc import __version__

    parser = _Parser(
        prog="graphc", description="graphc: a lazy computational-graph compiler.")
    parser.add_argument("--version", action="version", version=f"graphc {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for registrar in COMMANDS.values():
        registrar(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``graphc`` command line; returns the exit status.

    >>> import tempfile; from unittest import mock
    >>> with tempfile.TemporaryDirectory() as d, mock.patch.dict("os.environ", GRAPHC_CACHE_DIR=d):
    ...     main(["cache", "clear"])    # doctest: +ELLIPSIS
    removed 0 kernels and 0 hand-written (0 files, 0 B) from ...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:  # `graphc` or `graphc cache` alone: show what can follow
        (getattr(args, "parser", None) or parser).print_help()
        return 2
    try:
        return handler(args) or 0
    except user_errors() as err:
        if os.environ.get("GRAPHC_TRACEBACK"):
            raise
        words = sys.argv[1:] if argv is None else list(argv)
        name = next((w for w in words if not w.startswith("-")), "")
        text = " ".join(str(err).split()) or type(err).__name__
        prefix = f"graphc {name}: "
        print(text if text.startswith(prefix) else prefix + text, file=sys.stderr)
        return 2


# ------------------------------------------------------------------------- cache


@command("cache")
def _register_cache(subparsers: argparse._SubParsersAction) -> None:
    cache_parser = subparsers.add_parser(
        "cache", help="inspect or clear the compiled-kernel cache",
        description="The compiled-kernel cache (GRAPHC_CACHE_DIR, default ~/.cache/graphc; "
                    "capped at GRAPHC_CACHE_MAX_BYTES, default 2G). See docs/security.md.")
    cache_parser.set_defaults(parser=cache_parser)
    actions = cache_parser.add_subparsers(title="actions", metavar="ACTION")
    info = actions.add_parser("info", help="show the cache directory, kernel count and size")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=_cache_info)
    clear = actions.add_parser("clear", help="delete every cached kernel, generated or "
                                             "hand-written")
    clear.add_argument("--json", action="store_true", help="print one JSON object")
    clear.set_defaults(handler=_cache_clear)


def _cache_info(args: argparse.Namespace) -> int:
    from graphc.codegen.cache import cache_info

    info = cache_info()
    if args.json:
        print(json.dumps(info))
    else:
        cap = _human_bytes(info["max_bytes"]) if info["max_bytes"] else "none"
        print(f"cache dir: {info['dir']}\nkernels:   {info['kernels']} generated, "
              f"{info['library_functions']} hand-written\n"
              f"files:     {info['files']}\nsize:      {_human_bytes(info['bytes'])} "
              f"({info['bytes']} bytes; cap {cap}, GRAPHC_CACHE_MAX_BYTES)")
    return 0


def _cache_clear(args: argparse.Namespace) -> int:
    from graphc.codegen.cache import clear_cache

    removed = clear_cache()
    if args.json:
        print(json.dumps(removed))
    else:
        print(f"removed {removed['kernels']} kernels and {removed['library_functions']} "
              f"hand-written ({removed['files']} files, {_human_bytes(removed['bytes'])}) "
              f"from {removed['dir']}")
    return 0


def _human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    size = count / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"

# --------------------------------------------------------------------------- viz


@command("viz")
def _register_viz(subparsers: argparse._SubParsersAction) -> None:
    from graphc.viz import command as viz_command

    parser = subparsers.add_parser(
        "viz", help="draw a compiled graph (.svg .png .dot .json .html)",
        description="Export a dumped function (model.graphc) or the tensors a script's "
                    "function returns (script.py:function) at a compiler stage.")
    viz_command.add_arguments(parser)
    parser.set_defaults(handler=viz_command.run)

# --------------------------------------------------------------------------- run


@command("run")
def _register_run(subparsers: argparse._SubParsersAction) -> None:
    from graphc.jit import cli as run_command

    run_command.register(subparsers)


@command("precompile")
def _register_precompile(subparsers: argparse._SubParsersAction) -> None:
    from graphc.jit import cli as dumped

    dumped.register_precompile(subparsers)


# -------------------------------------------------------------------------- bench


@command("bench")
def _register_bench(subparsers: argparse._SubParsersAction) -> None:
    from graphc.bench import command as bench_command

    bench_command.register(subparsers)


if __name__ == "__main__":
    sys.exit(main())
