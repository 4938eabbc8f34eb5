"""Graph passes: each a pure, named function ``Graph -> Graph`` (DESIGN.md §5).

>>> sorted(PASSES)[:1]
['cse']
"""

from __future__ import annotations

from collections.abc import Callable

PASSES: dict[str, Callable] = {}

# The simplification pipeline run before fusion, in order.
PIPELINE = ("verify", "fold_constants", "cse", "simplify", "dce")


def graph_pass(name: str) -> Callable[[Callable], Callable]:
    """Register a pass under a stable name (used by explain and visualisation)."""

    def register(fn: Callable) -> Callable:
        fn.pass_name = name
        PASSES[name] = fn
        return fn

    return register


def run_pipeline(graph, names: tuple[str, ...] = PIPELINE):
    """Run the named passes in order."""
    _load()
    for name in names:
        if name in PASSES:
            graph = PASSES[name](graph)
    return graph


def _load() -> None:
    import importlib

    for module in ("verify", "fold_constants", "cse", "simplify", "dce", "fusion", "schedule",
                   "memory"):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{module}":
                raise


_load()
