"""Graph passes: each a pure, named function ``Graph -> Graph`` (DESIGN.md §5).

Passes register themselves in :data:`PASSES` under a stable name with :func:`graph_pass`;
:func:`run_pipeline` runs the pre-fusion pipeline :data:`PIPELINE` in order.

>>> import numpy as np
>>> from graphc.ir import Graph, buffer_node, const_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.ones(3, np.float32), "cpux")
>>> one = apply("broadcast_to", [const_node(1.0, np.float32, "cpux")], shape=(3,))
>>> g = run_pipeline(Graph((apply("neg", [apply("mul", [x, one])]),)))
>>> [n.op for n in g.pending()]
['neg']
>>> set(PIPELINE) <= set(PASSES)
True
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import Graph

GraphPass = Callable[[Graph], Graph]

PASSES: dict[str, GraphPass] = {}

# The simplification pipeline run before fusion, in order.
PIPELINE = ("lower", "verify", "fold_constants", "cse", "simplify", "matmul_layout",
            "matmul_accumulate", "dce")


def graph_pass(name: str) -> Callable[[GraphPass], GraphPass]:
    """Register a pass under a stable name (used by explain and visualisation).

    >>> @graph_pass("example_identity")
    ... def example_identity(graph):
    ...     return graph
    >>> PASSES.pop("example_identity").pass_name
    'example_identity'
    """

    def register(fn: GraphPass) -> GraphPass:
        old = PASSES.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (fn.__module__,
                                                                     fn.__qualname__):
            raise ValueError(f"a graph pass named {name!r} is already registered")
        fn.pass_name = name  # type: ignore[attr-defined]
        PASSES[name] = fn
        return fn

    return register


def run_pipeline(graph: Graph, names: tuple[str, ...] = PIPELINE) -> Graph:
    """Run the named passes in order (unknown names are an error).

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> run_pipeline(Graph((x,)), ("verify",)).outputs == (x,)
    True
    """
    _load()
    for name in names:
        if name not in PASSES:
            raise KeyError(f"unknown graph pass {name!r}; known: {sorted(PASSES)}")
        graph = PASSES[name](graph)
    return graph


def _load() -> None:
    """Import every pass module so that each registers itself in PASSES."""
    import importlib

    for module in ("lower", "verify", "fold_constants", "cse", "simplify", "layout",
                   "accumulate", "dce", "fusion", "schedule", "memory"):
        importlib.import_module(f"{__name__}.{module}")


_load()
