"""Value reads inside a non-symbolic ``graphc.jit.trace``: real values, kept as guards.

A traced body runs on placeholders, so its tensors have no values. A
:class:`GuardedTrace` still answers ``.numpy()``, ``.item()``, ``bool(t)``, ``if t:``
...: it computes the value from the call's actual arguments (the read's graph, with
each placeholder replaced by its argument, compiled and run like any realization) and
records it. The first call's reads are its *guards*: the Program it traced is right
only for those values (Python may have branched on them), so every later call, which
runs the body again, must read the same values, else :class:`TraceError` ("trace error
because ...", MegEngine's wording) is raised at the read, before anything of the call
runs. A read inside ``exclude_from_trace`` returns its value and is not a guard.

The read value is held in the realized-value table only while the body runs (so the
Tensor method that asked finds it), then forgotten: the traced graph computes it afresh.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import lazy
from ..ir import Node, is_frontier
from ..ir.state import current
from ..ir.values import forget, record
from ..ops import apply
from ..runtime.compiler import execute
from ..runtime.transfer import to_host
from ..tensor import Tensor
from .capture import Trace, Traced, shown, user_where, value_read
from .errors import TraceError
from .specialize import specialize


class Read(NamedTuple):
    """One value read while tracing: its value, how and where it was read."""

    value: np.ndarray
    how: str  # ".numpy()", "bool(tensor) (an `if` ...)", ...
    where: str  # file:line


class GuardedTrace(Trace):
    """The hooks of ``graphc.jit.trace``: a :class:`Trace` whose value reads return real
    values (``symbolic=False``, or inside ``exclude_from_trace``) and, with ``expected``
    (the first call's :class:`Traced`), checks reads and ops against it."""

    def __init__(self, name: str, symbolic: bool, expected: Traced | None = None) -> None:
        super().__init__(name, expected)
        self.symbolic = symbolic
        self._shown: list[Node] = []  # nodes whose read value is in the value table
        self._holders: list[weakref.ref] = []  # live Tensors holding them
        self._values: dict[int, Node] | None = None  # placeholder uid → its argument

    def argument(self, placeholder: Tensor) -> Tensor:
        # An op over the placeholder (removed by the passes), so that a read of the
        # argument itself has a node to hold its value.
        return Tensor._wrap(apply("identity", [placeholder._node]))

    def defer_realize(self, pending: list[Node], frame: Any) -> None:
        method = value_read(frame)
        if method is None or (self.symbolic and not self.excluded):
            super().defer_realize(pending, frame)  # defers, or refuses the read
            return
        values = self._evaluate(pending)
        uids = {n.uid for n in pending}
        # While its value is shown, a Tensor holding one of these nodes looks realized
        # and leaves the live registry when it is swept: it is tracked again at the end.
        self._holders += [ref for ref in current().live.values()
                          if (t := ref()) is not None and t._node.uid in uids]
        for node, value in zip(pending, values):
            record(node, value)
            self._shown.append(node)
        if not self.excluded:
            where, indexing = user_where(frame)
            how = "a boolean mask or tensor index" if indexing and method in \
                ("numpy", "__index__", "_value") else shown(method)
            for value in values:
                self._guard(Read(np.array(to_host(value)), how, where))

    def _evaluate(self, nodes: list[Node]) -> list[Any]:
        """The values of ``nodes`` for this call's arguments."""
        with outside_trace():
            if self._values is None:
                self._values = {p.uid: _argument_node(p, leaf) for p, leaf in self.inputs}
            new, _ = specialize(nodes, {}, self._values)
            roots = [n for n in new if not is_frontier(n)]
            computed = execute(roots, set()) if roots else {}
        return [computed[n.uid] if n.uid in computed else n.buffer for n in new]

    def _guard(self, read: Read) -> None:
        k = len(self.reads)
        self.reads.append(read)
        if self.expected is None:
            return
        first = self.expected.reads
        if k >= len(first):
            raise TraceError(
                f"trace error because {self.name} read a value with {read.how} at "
                f"{read.where} that its first call did not read (it read {len(first)})")
        if not _same(first[k].value, read.value):
            raise TraceError(
                f"trace error because the value {self.name} read with {read.how} at "
                f"{read.where} changed: the first call read {_show(first[k].value)}, this "
                f"call {_show(read.value)}. A non-symbolic trace replays what its first "
                f"call did with the values it read. Return the tensor and read it after "
                f"the call, read it inside `with exclude_from_trace():` (not checked), or "
                f"call the function untraced")

    def __exit__(self, *exc: object) -> None:
        for node in self._shown:
            forget(node)
        for ref in self._holders:
            if (t := ref()) is not None:
                lazy.track(t)
        self._shown.clear()
        self._holders.clear()
        super().__exit__(*exc)
        if exc[0] is None and self.expected is not None and \
                len(self.reads) != len(self.expected.reads):
            first = self.expected.reads
            raise TraceError(
                f"trace error because {self.name} read {len(self.reads)} value(s) where its "
                f"first call read {len(first)}"
                + (f" (the first call read one with {first[len(self.reads)].how} at "
                   f"{first[len(self.reads)].where})" if len(first) > len(self.reads) else ""))

    def path_changed(self, why: str) -> str:
        return (f"trace error because {self.name} took a different path than on its first "
                f"call: {why}")


def _argument_node(placeholder: Node, leaf: Any) -> Node:
    if isinstance(leaf, Tensor):
        return leaf._node
    t = placeholder.type
    return Tensor(np.asarray(leaf), dtype=t.dtype, device=t.device)._node


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and \
        bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _show(value: np.ndarray) -> str:
    return str(value.tolist()) if value.size <= 8 else np.array2string(value, threshold=8)


@contextlib.contextmanager
def outside_trace() -> Iterator[None]:
    """Build and compute as if no trace (nor recording GradManager) were active."""
    st = current()
    saved = st.traces, st.trace_ops, st.stamps
    st.traces, st.trace_ops, st.stamps = [], None, []
    try:
        yield
    finally:
        st.traces, st.trace_ops, st.stamps = saved
