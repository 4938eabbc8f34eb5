"""Graph passes: each a pure, named function ``Graph -> Graph`` (DESIGN.md §5).

Passes register themselves in :data:`PASSES` under a stable name with :func:`graph_pass`;
:func:`run_pipeline` runs the pre-fusion pipeline :data:`PIPELINE` in order. A pass whose
rewrite pays off only where the backend can run it well (``matmul_accumulate``) is
registered with ``asks_capabilities=True`` and also receives the backend's
:class:`~graphc.ir.target.Capabilities`, which the caller of :func:`run_pipeline` hands
in: passes know no device and look no backend up.

>>> import numpy as np
>>> from graphc.ir import Graph, buffer_node, const_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.ones(3, np.float32), "cpux")
>>> one = apply("broadcast_to", [const_node(1.0, np.float32, "cpux")], shape=(3,))
>>> g = run_pipeline(Graph((apply("neg", [apply("mul", [x, one])]),)),
...                  capabilities=NO_CAPABILITIES)
>>> [n.op for n in g.pending()]
['neg']
>>> set(PIPELINE) <= set(PASSES)
True
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..ir import Graph
from ..ir.target import NO_CAPABILITIES, Capabilities

GraphPass = Callable[..., Graph]

PASSES: dict[str, GraphPass] = {}

# The simplification pipeline run before fusion, in order.
PIPELINE = ("lower", "verify", "fold_constants", "cse", "simplify", "matmul_layout",
            "matmul_accumulate", "dce")


def graph_pass(name: str, asks_capabilities: bool = False
               ) -> Callable[[GraphPass], GraphPass]:
    """Register a pass under a stable name (used by explain and visualisation).
    ``asks_capabilities``: the pass is ``fn(graph, capabilities)``.

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
        fn.asks_capabilities = asks_capabilities  # type: ignore[attr-defined]
        PASSES[name] = fn
        return fn

    return register


def run_pipeline(graph: Graph, names: tuple[str, ...] = PIPELINE,
                 capabilities: Capabilities | None = None,
                 seconds: dict[str, float] | None = None) -> Graph:
    """Run the named passes in order (unknown names are an error). ``capabilities``
    (the target backend's) is required when a pass that asks them runs. ``seconds``,
    if given, receives each pass's wall time under its name (added to what is there).

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> x = buffer_node(np.ones(2, np.float32), "cpux")
    >>> took = {}
    >>> run_pipeline(Graph((x,)), ("verify",), seconds=took).outputs == (x,), list(took)
    (True, ['verify'])
    """
    for name in names:
        t0 = time.perf_counter()
        graph_pass_fn = PASSES.get(name)
        if graph_pass_fn is None:
            raise KeyError(f"unknown graph pass {name!r}; known: {sorted(PASSES)}")
        if graph_pass_fn.asks_capabilities:
            if capabilities is None:
                raise ValueError(f"graph pass {name!r} needs the backend's capabilities: "
                                 "run_pipeline(graph, capabilities=backend.capabilities)")
            graph = graph_pass_fn(graph, capabilities)
        else:
            graph = graph_pass_fn(graph)
        if seconds is not None:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
    return graph


# Every pass module registers itself in PASSES when imported (after graph_pass exists).
from . import (  # noqa: E402, F401, I001
    lower, verify, fold_constants, cse, simplify, layout, accumulate, dce, fusion, schedule,
    memory,
)

__all__ = ["NO_CAPABILITIES", "PASSES", "PIPELINE", "Capabilities", "graph_pass",
           "run_pipeline"]
