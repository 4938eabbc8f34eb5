"""``graphc.viz.capture()``: record the graphs that realizations compute, for export.

A training step realizes inside ``optimizer.step()``, after which its nodes forget their
inputs (graphs must not grow across steps). To draw it, capture it::

    with graphc.viz.capture("training step") as step:
        opt.step()
    graphc.viz.export(step, "step.svg", stage="fused")

Each realization in the block is snapshot when it starts (a copy of its pending nodes,
sharing leaves and metadata with the originals), so later steps never change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import lazy
from ..ir import Node, is_frontier, topo_order
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
        lazy.realize_hooks.append(self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        lazy.realize_hooks.remove(self._record)

    def _record(self, roots: list[Node]) -> None:
        copies: dict[int, Node] = {}
        for n in topo_order(roots):
            copies[n.uid] = n if is_frontier(n) else Node(
                n.op, tuple(copies[i.uid] for i in n.inputs), n.attrs, n.type, meta=n.meta)
        params = _named(self.names) if self.names is not None else _live_parameters()
        name = self.name if not self.graphs else f"{self.name} ({len(self.graphs) + 1})"
        self.graphs.append(CapturedGraph([copies[r.uid] for r in roots], name, params))

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
