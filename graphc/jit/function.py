"""``graphc.function`` and :class:`CompiledFunction`: a graph compiled once, called often.

>>> import graphc, graphc.functional as F
>>> x = graphc.placeholder((None, 2), name="x")
>>> w = graphc.Parameter([[1.], [2.]])
>>> f = graphc.function([x], {"y": F.relu(x @ w)}, name="tiny")
>>> f(np.array([[1., 1.], [-3., 0.]], np.float32))
{'y': array([[3.],
       [0.]], dtype=float32)}
>>> f.input_names, f.output_names
(['x'], ['y'])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from .. import dtypes, lazy
from ..device import canonical_device
from ..ir import Graph, Node, topo_order
from ..random import drawn
from ..tensor import Tensor
from . import tree as trees
from .errors import TraceError
from .placeholder import bind_sizes, check_shape, display_shape, symbolic_probes
from .plan import Entry
from .specialize import check_generic, specialize
from .state import DataRef, StateChanged, StateRef, find_owners


@dataclass
class Capture:
    """Everything a compiled function is made from (by graphc.function, jit or load)."""

    name: str
    inputs: list[Node]                  # placeholders, in call order
    input_names: list[str]
    outputs: list[Node]                 # the user's outputs (tree leaves), as built
    tree: tuple                         # how the outputs nest
    writes: list[tuple[StateRef, Node | None]]  # state written back after each call
    owners: dict[int, StateRef]         # uid of a buffer the graph reads → its state
    draws: dict = field(default_factory=dict)   # uid → (generator, recipe)
    probes: dict[int, str] = field(default_factory=dict)  # probe size → symbol


class CompiledFunction:
    """A compiled graph, callable on NumPy arrays (or Tensors).

    Attributes for inspection: ``name``, ``input_nodes`` (the placeholders),
    ``input_names``, ``output_nodes`` (the outputs as built, then the new values of
    updated state), ``output_names``, ``graph`` (the optimised graph), ``stats``
    (compile time, kernel count, peak planned memory) and :meth:`explain`.
    """

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.name = capture.name
        self._entries: dict[tuple, Entry] = {}
        self._last: Entry | None = None
        inputs = capture.inputs
        self._shapes = [n.type.shape for n in inputs]
        self._dtypes = [n.type.dtype for n in inputs]
        self._devices = [n.type.device for n in inputs]
        if capture.probes:
            _check_draws(capture)
            check_generic(self._all_outputs(), list(capture.probes))
        else:
            self._last = self._entry(())

    # -- inspection -----------------------------------------------------------------
    @property
    def input_nodes(self) -> list[Node]:
        return list(self.capture.inputs)

    @property
    def input_names(self) -> list[str]:
        return list(self.capture.input_names)

    @property
    def output_nodes(self) -> list[Node]:
        """The outputs as built, then the new value of each updated state."""
        return self._all_outputs()

    @property
    def output_names(self) -> list[str]:
        leaves: list[str] = []
        _leaf_names(self.capture.tree, "output", leaves)
        return leaves + [f"update:{ref.name or i}" for i, (ref, node)
                         in enumerate(self.capture.writes) if node is not None]

    def _all_outputs(self) -> list[Node]:
        return list(self.capture.outputs) + [n for _, n in self.capture.writes
                                             if n is not None]

    def _current(self) -> Entry:
        if self._last is None:
            raise TraceError(f"{self.name}: has symbolic (None) dimensions and has not been "
                             f"called yet; call it once to specialise it")
        return self._last

    @property
    def graph(self) -> Graph:
        """The optimised graph of the latest specialisation (before fusion)."""
        from ..passes import run_pipeline
        from ..runtime.compiler import target_backend

        roots = self._current().roots
        return run_pipeline(Graph(tuple(roots)),
                            capabilities=target_backend(roots).capabilities)

    @property
    def stats(self) -> dict:
        """Compile time (s), kernel count and peak planned memory (bytes) of the Program
        of the latest call's shapes, and how many specialisations exist."""
        entry = self._current()
        return {**entry.stats(), "specialisations": len(self._entries),
                "inputs": len(self.capture.inputs), "outputs": len(self.capture.outputs),
                "updates": len(entry.write_refs) + len(entry.none_writes)}

    def explain(self):
        """The kernels of the Program (as :func:`graphc.explain` reports them)."""
        from ..runtime.explain import explain

        return explain(*[Tensor._wrap(n) for n in self._current().roots])

    def __repr__(self) -> str:
        ins = ", ".join(f"{name}: {n.type.dtype.name}"
                        f"{list(display_shape(n.type.shape, self.capture.probes))}"
                        for name, n in zip(self.capture.input_names, self.capture.inputs))
        return f"<CompiledFunction {self.name}({ins}) -> {', '.join(self.output_names)}>"

    # -- calling --------------------------------------------------------------------
    def _entry(self, binding: tuple) -> Entry:
        entry = self._entries.get(binding)
        if entry is None:
            c = self.capture
            if binding:
                nodes, mapping = specialize(self._all_outputs() + c.inputs, dict(binding))
                n_out = len(c.outputs)
                outputs, rest = nodes[:n_out], nodes[n_out:]
                new_writes = rest[:len(rest) - len(c.inputs)]
                inputs = rest[len(rest) - len(c.inputs):]
                it = iter(new_writes)
                writes = [(ref, None if n is None else next(it)) for ref, n in c.writes]
                owners = {mapping[u].uid: r for u, r in c.owners.items() if u in mapping}
                draws = {mapping[u].uid: d for u, d in c.draws.items() if u in mapping}
            else:
                inputs, outputs, writes, owners, draws = (c.inputs, c.outputs, c.writes,
                                                          c.owners, c.draws)
            entry = self._entries[binding] = Entry(self.name, inputs, outputs, writes,
                                                   owners, draws)
        self._last = entry
        return entry

    def arrays(self, args: Sequence[Any], kwargs: dict[str, Any]) -> list[np.ndarray]:
        """The call's inputs as arrays of the placeholders' dtypes, checked."""
        names = self.capture.input_names
        n = len(names)
        if kwargs:
            args = list(args) + [None] * (n - len(args))
            for key, value in kwargs.items():
                if key not in names:
                    raise TraceError(f"{self.name}: no input named {key!r}; inputs are "
                                     f"{names}")
                i = names.index(key)
                if args[i] is not None:
                    raise TraceError(f"{self.name}: input {key!r} given twice")
                args[i] = value
        if len(args) != n or any(a is None for a in args):
            raise TraceError(f"{self.name}: takes {n} input(s) {names}, got {len(args)}"
                             + (f" (missing {[m for m, a in zip(names, args) if a is None]})"
                                if len(args) == n else ""))
        out = []
        for i, a in enumerate(args):
            if type(a) is np.ndarray and a.dtype == self._dtypes[i] and \
                    a.shape == self._shapes[i] and a.flags.c_contiguous:
                out.append(a)
            else:
                out.append(self._coerce(i, a))
        return out

    def _coerce(self, i: int, value: Any) -> np.ndarray:
        name, want = self.capture.input_names[i], self._dtypes[i]
        if isinstance(value, Tensor):
            if value._node.type.device != self._devices[i] and \
                    canonical_device(None) != self._devices[i]:
                raise TraceError(f"{self.name}: input {name!r} is on {value.device}, the "
                                 f"placeholder on {self._devices[i]}")
            value = value._value()
        array = np.asarray(value)
        if array.dtype != want:
            if array.dtype == object or (isinstance(value, np.ndarray) and
                                         dtypes.default_for_data(array.dtype) != want):
                raise TraceError(f"{self.name}: input {name!r} expects {want.name}, got "
                                 f"{array.dtype.name} of shape {array.shape}")
            array = array.astype(want)
        check_shape(self.capture.inputs[i], array.shape, name, self.name,
                    self.capture.probes)
        return np.ascontiguousarray(array)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run on NumPy arrays (or Tensors), positionally or by input name; returns NumPy
        arrays in the structure of the outputs. Updates are applied after the call."""
        if lazy.active_traces():
            raise TraceError(f"{self.name}: a compiled function cannot be called inside a "
                             f"traced function; call its Python code instead")
        arrays = self.arrays(args, kwargs)
        binding = ()
        if self.capture.probes:
            binding = bind_sizes(self.capture.inputs, [a.shape for a in arrays],
                                 self.capture.input_names, self.capture.probes)
        entry = self._last if self._last is not None and not binding else self._entry(binding)
        try:
            values = entry.run(arrays)
        except StateChanged as err:
            raise TraceError(f"{self.name}: state it reads changed type since it was "
                             f"compiled ({err}); build the function again") from None
        return trees.unflatten(self.capture.tree, values)

    def dump(self, path: str | os.PathLike | IO[bytes]) -> None:
        """Write the graph and its weights to one file, by name or a binary file object
        (see :mod:`graphc.jit.dump`)."""
        from .dump import dump

        dump(self, path)


def _leaf_names(tree: tuple, path: str, out: list[str]) -> None:
    kind, body = tree
    if kind == trees.LEAF:
        out.append(path)
    elif kind in ("tuple", "list"):
        for i, t in enumerate(body):
            _leaf_names(t, f"{path}{i}" if path == "output" else f"{path}[{i}]", out)
    elif kind == "dict":
        for k, t in body:
            _leaf_names(t, k if path == "output" else f"{path}[{k!r}]", out)


def _check_draws(c: Capture) -> None:
    """A random draw cannot follow a symbolic dimension: its values were drawn for the
    probe size when the graph was built. Say so, naming the draw, the input and the
    likely cause (a train-mode Dropout), before check_generic blames the graph."""
    for node in topo_order(list(c.outputs) + [n for _, n in c.writes if n is not None]):
        if node.uid not in c.draws:
            continue
        probes = [d for d in node.type.shape if d in c.probes]
        if not probes:
            continue
        inputs = [f"{name!r} of shape {display_shape(n.type.shape, c.probes)}"
                  for name, n in zip(c.input_names, c.inputs) if probes[0] in n.type.shape]
        kind = c.draws[node.uid][1][0]
        raise TraceError(
            f"{c.name}: a random {kind} draw of shape {display_shape(node.type.shape, c.probes)}"
            f", made at {node.meta.location}, takes its size from the symbolic dimension of "
            f"input {', '.join(inputs)}; random values are drawn for a concrete shape. A "
            f"Dropout in training mode does this: call model.eval() before "
            f"graphc.function for inference, or give the input a concrete shape, or use "
            f"@graphc.jit, which traces each batch size")


def capture_draws(nodes: Sequence[Node]) -> dict:
    """uid → (generator, recipe) for the random draws among the graph's buffers."""
    out = {}
    for node in topo_order(nodes):
        if node.buffer is not None and not node.inputs:
            hit = drawn.get(node)
            if hit is not None:
                out[node.uid] = hit
    return out


def function(inputs: Tensor | Sequence[Tensor], outputs: Any,
             updates: Sequence[tuple[Tensor, Tensor]] | None = None,
             name: str | None = None) -> CompiledFunction:
    """Compile the graph from placeholders ``inputs`` to ``outputs`` into a callable.

    ``outputs`` is a Tensor, a tuple/list or a dict of Tensors; calls return NumPy arrays
    in the same structure. ``updates`` is a list of ``(tensor, new_value)`` pairs applied
    after each call (a training step as one compiled function). Tensors the graph reads
    (parameters) are bound, not copied: each call reads their current values. Random
    draws (dropout masks) are drawn afresh on every call.

    >>> import graphc
    >>> x = graphc.placeholder((3,), name="x")
    >>> total = graphc.Parameter([0., 0., 0.])
    >>> acc = graphc.function([x], total + x, updates=[(total, total + x)])
    >>> _ = acc(np.ones(3, np.float32)); acc(np.ones(3, np.float32))
    array([2., 2., 2.], dtype=float32)
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    fname = name or "function"
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or t._node.op != "placeholder":
            raise TypeError(f"graphc.function: inputs[{i}] must be a graphc.placeholder, got "
                            f"{type(t).__name__}" + (f" holding {t._node.op}"
                                                     if isinstance(t, Tensor) else ""))
    input_names = [t._node.attrs["name"] for t in inputs]
    if len(set(input_names)) != len(input_names):
        raise ValueError(f"graphc.function: input names must differ, got {input_names}")
    leaves: list = []
    tree = trees.flatten(outputs, leaves, [], "output")
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise TypeError(f"graphc.function: outputs must be Tensors, got a "
                            f"{type(leaf).__name__}")
    _check_static_outputs(tree)
    writes: list[tuple[StateRef, Node | None]] = []
    for k, pair in enumerate(updates or ()):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(isinstance(t, Tensor) for t in pair)):
            raise TypeError(f"graphc.function: updates[{k}] must be a (tensor, new_value) "
                            f"pair of Tensors")
        target, value = pair
        if target.shape != value.shape or target.dtype != value.dtype:
            raise TypeError(f"graphc.function: updates[{k}] gives a {value.dtype.name}"
                            f"{list(value.shape)} value to a {target.dtype.name}"
                            f"{list(target.shape)} tensor")
        writes.append((DataRef(target), value._node))
    out_nodes = [t._node for t in leaves]
    graph_nodes = out_nodes + [n for _, n in writes]
    frontier = [n for n in topo_order(graph_nodes) if n.buffer is not None and not n.inputs
                or n.buffer is not None]
    owners = find_owners(frontier)
    for ref, _ in writes:  # an updated tensor is read through its reference
        node = ref.node()
        if node is not None and node.buffer is not None:
            ref.fallback = node
            owners[node.uid] = ref
    capture = Capture(fname, [t._node for t in inputs], input_names, out_nodes, tree, writes,
                      owners, capture_draws(graph_nodes),
                      symbolic_probes([t._node for t in inputs]))
    return CompiledFunction(capture)


def _check_static_outputs(tree: tuple) -> None:
    kind, body = tree
    if kind == "static" and body is not None:
        raise TypeError(f"graphc.function: outputs must be Tensors (or None), got "
                        f"{type(body).__name__}")
    if kind in ("tuple", "list"):
        for t in body:
            _check_static_outputs(t)
    if kind == "dict":
        for _, t in body:
            _check_static_outputs(t)
