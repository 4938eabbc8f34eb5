"""One compiled specialisation of a function: its Program and a prepared call path.

:class:`Entry` binds everything once: which Program argument is which input, which is a
state read live on every call, which is a random draw made afresh, and which is a
constant captured when the function was made. A call then only fills argument slots,
runs the Program's prepared steps and writes state back; no graph work, no Python body.
Under ``GRAPHC_BACKEND=interp`` the same plan runs on the NumPy reference interpreter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import lazy
from ..ir import Node, TensorType, is_frontier, topo_order
from ..random import RNG
from ..runtime.donation import claim, expose, may_donate
from .errors import TraceError
from .state import DataRef, StateRef

Draws = dict[int, tuple[RNG, tuple]]  # uid of a drawn buffer → its generator and recipe


class Entry:
    """A Program for ``outputs`` (then the values of ``writes``) over ``inputs``."""

    def __init__(self, name: str, inputs: Sequence[Node], outputs: Sequence[Node],
                 writes: Sequence[tuple[StateRef, Node | None]], owners: dict[int, StateRef],
                 draws: Draws) -> None:
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.writes = list(writes)
        self.owners = owners
        self.draw_recipes = draws
        self._input_index = {n.uid: i for i, n in enumerate(inputs)}
        produced = list(outputs) + [n for _, n in writes if n is not None]
        self.roots = []  # pending nodes, computed by the Program
        seen: dict[int, int] = {}
        self.sources: list[tuple] = []  # per produced value: where it comes from
        for node in produced:
            if is_frontier(node):
                self.sources.append(self._frontier_source(node))
            else:
                if node.uid not in seen:
                    seen[node.uid] = len(self.roots)
                    self.roots.append(node)
                self.sources.append(("program", seen[node.uid]))
        self.n_outputs = len(outputs)
        # The common case, decided once: every value comes straight from the Program.
        self._all_from_program = all(s[0] == "program" for s in self.sources) and \
            [s[1] for s in self.sources] == list(range(len(self.sources)))
        self.none_writes = [ref for ref, n in writes if n is None]
        self.write_refs = [(ref, n.type) for ref, n in writes if n is not None]
        self.compiled = None
        self.program = None
        args: list[Node] = []
        if self.roots:
            from ..runtime.compiler import prepare

            self.compiled, args = prepare(self.roots, updates=self._updates)
            self.program = self.compiled.program
        self.args = args
        self._plan(args)
        self.donations = self._donations()
        # Written states whose value is a Program output no other produced value shares:
        # the state's Tensor is its one holder, so graphc owns it (graphc.runtime.donation).
        outputs = [s[1] for s in self.sources if s[0] == "program"]
        self.claims = [isinstance(ref, DataRef) and source[0] == "program"
                       and outputs.count(source[1]) == 1
                       for (ref, _), source in zip(self.write_refs, self.sources[self.n_outputs:])]

    # -- binding --------------------------------------------------------------------
    def _frontier_source(self, node: Node) -> tuple:
        if node.op == "placeholder":
            return ("input", self._input(node))
        if node.op in ("const", "scalar"):
            return ("const", np.asarray(node.value, dtype=node.type.dtype))
        if node.uid in self.owners:
            return ("read", self.owners[node.uid], node.type)
        if node.uid in self.draw_recipes:
            rng, recipe = self.draw_recipes[node.uid]
            return ("draw", rng, recipe, node)
        return ("const", node.buffer)

    def _input(self, node: Node) -> int:
        index = self._input_index.get(node.uid)
        if index is None:
            raise TraceError(f"{self.name}: the outputs read placeholder "
                             f"{node.attrs['name']!r} (made at {node.meta.location}), which is "
                             f"not among the function's inputs")
        return index

    def _plan(self, args: list[Node]) -> None:
        self.template: list = [None] * len(args)
        self.inputs_at: list[tuple[int, int]] = []
        self.reads_at: list[tuple[int, StateRef, TensorType]] = []
        self.draws_at: list[tuple[int, RNG, tuple, Node]] = []
        for k, node in enumerate(args):
            source = self._frontier_source(node)
            kind = source[0]
            if kind == "input":
                self.inputs_at.append((k, source[1]))
            elif kind == "read":
                self.reads_at.append((k, source[1], source[2]))
            elif kind == "draw":
                self.draws_at.append((k, *source[1:]))
            elif node.op in ("const", "scalar"):
                self.template[k] = node.type.dtype.type(node.value)
            else:
                self.template[k] = source[1]
        # Draws happen in the order the body made them, as on the lazy path.
        self.draws_at.sort(key=lambda d: d[3].uid)

    def _state_updates(self, args: list[Node]) -> list[tuple[int, int, StateRef]]:
        """``(argument index, Program output index, state)`` of each state the trace
        reads as argument ``k`` and writes with output ``j``."""
        written = [ref for ref, node in self.writes if node is not None]  # as in sources
        out = []
        for k, node in enumerate(args):
            read = self.owners.get(node.uid)
            if read is None:
                continue
            for ref, source in zip(written, self.sources[self.n_outputs:]):
                if source[0] == "program" and read.same(ref):
                    out.append((k, source[1], ref))
        return out

    def _updates(self, args: list[Node]) -> set[tuple[int, int]]:
        """The in-place pairs to build first (see ``lookup_or_compile``)."""
        return {(k, j) for k, j, _ in self._state_updates(args)}

    def _donations(self) -> list[tuple[int, int, StateRef]]:
        """``(argument index, output index, state)`` where the Program can compute the
        state's new value into the buffer holding its old one (an optimizer's update)."""
        if self.program is None or not self.program.in_place:
            return []
        return [(k, j, ref) for k, j, ref in self._state_updates(self.args)
                if (k, j) in self.program.in_place and isinstance(ref, DataRef)]

    # -- calling --------------------------------------------------------------------
    def run(self, inputs: Sequence[np.ndarray], redraw: bool = True) -> list:
        """Run once: the output values (NumPy arrays); state is written back.

        ``redraw=False`` uses the random draws made while tracing (the traced call)."""
        args = self.template.copy()
        for k, i in self.inputs_at:
            args[k] = inputs[i]
        for k, ref, type in self.reads_at:
            args[k] = ref.read(type)
        for k, rng, recipe, node in self.draws_at:
            args[k] = rng.redraw(recipe) if redraw else node.buffer
        if self.program is not None:
            if self.donations:
                values = self.program.run(args, self._donate(args))
            else:
                values = self.program.run(args)
        else:
            values = []
        if self._all_from_program:
            produced = values
        else:
            produced = [self._value(s, values, inputs, args, redraw) for s in self.sources]
        n = self.n_outputs
        if self.write_refs:
            for (ref, type), value, owns in zip(self.write_refs, produced[n:], self.claims):
                ref.write(value, type)
                if owns:
                    claim(value)
        for ref in self.none_writes:
            ref.write(None, None)
        return produced[:n] if len(produced) != n else produced

    def _donate(self, args: list) -> list[tuple[int, int]]:
        """The pairs this call may compute in place: states graphc owns (see
        graphc.runtime.donation) that no live pending Tensor of this thread reads (it
        would read the overwritten buffer when it is computed later)."""
        donate = [(k, j, ref.tensor._node) for k, j, ref in self.donations
                  if may_donate(ref.tensor._node, args[k])]
        if not donate or lazy.graphs_held():  # (a kept graph may read the old values)
            return []
        live = lazy.live_pending_tensors()
        if live:
            read = {i.uid for n in topo_order([t._node for t in live]) for i in n.inputs}
            donate = [d for d in donate if d[2].uid not in read]
        return [(k, j) for k, j, _ in donate]

    def _value(self, source: tuple, values: list, inputs: Sequence, args: list,
               redraw: bool):
        kind = source[0]
        if kind == "program":
            return values[source[1]]
        if kind == "input":
            return np.array(inputs[source[1]])  # a copy: never alias the caller's array
        if kind == "read":  # a state's own array, handed to a second holder
            value = source[1].read(source[2])
            expose(value)
            return value
        if kind == "draw":  # the Program's own draw when it reads this one too
            k = next((k for k, *_, node in self.draws_at if node is source[3]), None)
            if k is not None:
                return args[k]
            return source[1].redraw(source[2]) if redraw else source[3].buffer
        return source[1]

    def stats(self) -> dict:
        """Compile time, kernel count and peak planned memory of the Program."""
        if self.compiled is None or self.compiled.plan is None:
            return {"compile_seconds": 0.0, "kernels": 0, "planned_bytes": 0,
                    "backend": "none" if self.compiled is None else "interp"}
        return {"compile_seconds": self.compiled.compile_seconds,
                "kernels": self.program.stats["kernels"],
                "planned_bytes": self.compiled.plan.planned_bytes, "backend": "compiled"}
