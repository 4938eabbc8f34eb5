"""``graphc.viz.capture()``: record the graphs that realizations compute, for export.

A training step realizes inside ``optimizer.step()``, after which its nodes forget their
inputs (graphs must not grow across steps). To draw it, capture it::

    with graphc.viz.capture("training step") as step:
        opt.step()
    graphc.viz.export(step, "step.svg", stage="fused")

Each realization in the block is recorded when it starts: a copy of its pending nodes
(``graphc.ir.graph.snapshot``, sharing leaves and metadata with the originals), which
stays pending after the realization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ir import Node
from ..ir.state import current
from .target import _live_parameters, _named


@dataclass
class CapturedGraph:
    """One realization: its output nodes (as built) and the parameters it read."""

    output_nodes: list[Node]
    name: str
    parameter_names: dict[int, str] = field(default_factory=dict)


class capture:
    """Context manager recording every realization inside it as a :class:`CapturedGraph`.

    ``export`` draws the last one (``graphs[-1]``); pass ``graphs[i]`` for another.
    ``names`` names parameters (a Module or ``{name: Tensor}``), else every live
    ``Parameter`` is found by itself.

    >>> import graphc
    >>> x = graphc.tensor([1., 2.])
    >>> with capture("double") as cap:
    ...     (x * 2).numpy().tolist()
    [2.0, 4.0]
    >>> [n.op for n in cap.output_nodes], cap.name
    (['mul'], 'double')
    """

    def __init__(self, name: str = "captured", names: Any = None) -> None:
        self.name = name
        self.names = names
        self.graphs: list[CapturedGraph] = []

    def __enter__(self) -> capture:
        current().captures.append(self)  # the thread's realizations call record()
        return self

    def __exit__(self, *exc: object) -> None:
        captures = current().captures
        for i in range(len(captures) - 1, -1, -1):
            if captures[i] is self:
                del captures[i]
                break

    def record(self, roots: list[Node]) -> None:
        """A realization is starting: ``roots`` are copies of its pending graph
        (``graphc.ir.graph.snapshot``), which stay pending once it has run."""
        params = _named(self.names) if self.names is not None else _live_parameters()
        n = len(self.graphs)
        name = self.name if not n else f"{self.name} ({n + 1})"
        self.graphs.append(CapturedGraph(list(roots), name, params))

    def _last(self) -> CapturedGraph:
        if not self.graphs:
            raise RuntimeError("graphc.viz.capture: nothing was realized inside the `with` "
                               "block, so there is no graph to draw")
        return self.graphs[-1]

    @property
    def output_nodes(self) -> list[Node]:
        """The output nodes of the last realization."""
        return self._last().output_nodes

    @property
    def parameter_names(self) -> dict[int, str]:
        """``{uid: name}`` of the parameters the last realization read."""
        return self._last().parameter_names
