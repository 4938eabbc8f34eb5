"""Lowering: a fused loop :class:`~graphc.ir.Kernel` → its :class:`~graphc.ir.kernel_ir.KernelIR`.

Every member is evaluated at an index: the domain's full index ``(i0, i1, ...)`` (``0``
for an axis of one point) for values computed per point, a row index for values of the
reduced shape. Movement members disappear: their index map (graphc/ops/movement.py,
graphc/ops/pad.py) turns the index of an element into the index of the element it reads.
Elementwise members become named scalar ops (``OpDef.scalar_op``), reductions become
:class:`~graphc.ir.kernel_ir.Reduce` values, and values read from outside the kernel
become loads of input parameters, scalar parameters or literals. Each (member, index)
pair becomes one value, so a member read at two elements (a recomputed elementwise
producer) is two values, and equal values are one (the table is hash-consed).

The ops' index maps take and return :class:`~graphc.ir.kernel_ir.Ix` trees (a constant
pad a :class:`~graphc.ir.kernel_ir.GuardedIndex`, which becomes a
:class:`~graphc.ir.kernel_ir.Guarded` value); each size they ask for becomes a size
parameter of the kernel.
"""

from __future__ import annotations

import numpy as np

from ..ir import FusedGraph, Kernel, Node
from ..ir.kernel_ir import (
    Apply,
    Guarded,
    GuardedIndex,
    Ix,
    KernelIR,
    Literal,
    Load,
    Param,
    Reduce,
    ScalarParam,
    Store,
    Value,
    lit,
    size_param,
    var,
)
from ..ir.node import SCALAR_OPS, is_key_value
from ..ops import get_op


def _cons_key(item: Value) -> object:
    """The hash-consing key of a value: the value itself, except that literals compare
    by their text (``0.0 == -0.0`` in Python, but they are different constants)."""
    if isinstance(item, Literal):
        return ("literal", repr(item.value), type(item.value), item.dtype)
    if isinstance(item, Guarded):
        return ("guarded", item.value, item.condition, repr(item.fill), item.dtype)
    return item


class _Lowering:
    def __init__(self, fused: FusedGraph, kernel: Kernel, runtime_scalars: set[int]) -> None:
        self.fused = fused
        self.kernel = kernel
        self.members = {m.uid for m in kernel.members}
        self.runtime_scalars = runtime_scalars
        self.values: list[Value] = []
        self.ids: dict[object, int] = {}
        self.at: dict[tuple, int] = {}  # (node uid, index) → value
        self.reduced: dict[int, int] = {}  # reduction uid → its Reduce value
        self.params: list[Param] = []
        self.param_of: dict[int, int] = {}
        self.sizes: list[int] = []
        domain = kernel.domain
        self.axes = set(kernel.reduce_axes)
        self.dims = tuple(self.size(d) if d != 1 else None for d in domain)
        self.full_index = tuple(lit(0) if d == 1 else var(f"i{k}") for k, d in enumerate(domain))

    def size(self, n: int) -> int:
        self.sizes.append(int(n))
        return len(self.sizes) - 1

    def add(self, item: Value) -> int:
        key = _cons_key(item)
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.values)
            self.values.append(item)
        return found

    def param(self, node: Node, kind: str) -> int:
        if node.uid not in self.param_of:
            self.param_of[node.uid] = len(self.params)
            self.params.append(Param(kind, node.type.dtype.name, len(node.type.shape), node))
        return self.param_of[node.uid]

    def load(self, node: Node, index: tuple[Ix, ...]) -> int:
        dtype = node.type.dtype.name
        if node.op in SCALAR_OPS:
            # A float that passes folded or composites made (1/N of a mean, an epsilon)
            # is a parameter like a runtime scalar, not text in the source: kernels that
            # differ only in such values share one source, one cache key, one compile.
            # The linker passes its value (ProgramBuilder.scalar_slot).
            if node.uid in self.runtime_scalars or (
                    node.type.dtype.kind == "f" and not is_key_value(node.value)):
                return self.add(ScalarParam(self.param(node, "scalar"), dtype))
            return self.add(Literal(node.value, dtype))
        return self.add(Load(self.param(node, "in"), index if node.type.shape else (), dtype))

    def index_map(self, node: Node, index: tuple[Ix, ...]) -> tuple[Ix, ...]:
        """The index ``node``'s input is read at (a GuardedIndex for a constant pad)."""
        op = get_op(node.op)
        return op.index_map(node.inputs[0].type, node.type, node.attrs, index,
                            lambda n: size_param(self.size(n)))

    def value(self, node: Node, index: tuple[Ix, ...]) -> int:
        """The value of ``node`` at ``index``. Iterative (an explicit stack), so fused
        chains of any length lower."""
        stack: list[tuple[Node, tuple, bool]] = [(node, index, False)]
        moved: dict[tuple, tuple] = {}
        while stack:
            n, idx, ready = stack.pop()
            key = (n.uid, idx)
            if key in self.at or n.uid in self.reduced:
                continue
            if n.uid not in self.members and n.uid not in self.fused.free:
                self.at[key] = self.load(n, idx)
                continue
            op = get_op(n.op)
            if op.kind == "movement":
                if key not in moved:
                    inner = self.index_map(n, idx)
                    moved[key] = (n.inputs[0], tuple(inner), inner)
                child, child_idx, inner = moved[key]
                if not ready:
                    stack += [(n, idx, True), (child, child_idx, False)]
                    continue
                read = self.resolved(child, child_idx)
                if isinstance(inner, GuardedIndex):  # a guarded read (constant pad)
                    read = self.add(Guarded(read, inner.condition, inner.fill,
                                            n.type.dtype.name))
                self.at[key] = read
                continue
            if not ready:
                stack.append((n, idx, True))
                stack += [(i, idx, False) for i in reversed(n.inputs)]
                continue
            args = tuple(self.resolved(i, idx) for i in n.inputs)
            attrs = tuple((k, np.dtype(v).name if k == "dtype" else v)
                          for k, v in n.attrs.items())
            operand = n.inputs[0].type.dtype.name if n.inputs else ""
            self.at[key] = self.add(Apply(op.scalar_op, args, n.type.dtype.name, operand,
                                          attrs))
        return self.resolved(node, index)

    def resolved(self, node: Node, index: tuple[Ix, ...]) -> int:
        if node.uid in self.reduced:
            return self.reduced[node.uid]
        return self.at[(node.uid, index)]

    def row_index(self, shape: tuple[int, ...]) -> tuple[Ix, ...]:
        domain = self.kernel.domain
        if len(shape) == len(domain):
            return tuple(lit(0) if k in self.axes else self.full_index[k]
                         for k in range(len(domain)))
        return tuple(self.full_index[k] for k in range(len(domain)) if k not in self.axes)

    def row_level(self) -> set[int]:
        """Members of the reduced shape (reductions and what is computed from them per
        row), as opposed to values computed at every point of the domain."""
        if not self.axes:
            return set()
        d = self.kernel.domain
        row_shapes = {tuple(1 if k in self.axes else n for k, n in enumerate(d)),
                      tuple(n for k, n in enumerate(d) if k not in self.axes)}
        return {m.uid for m in self.kernel.members
                if get_op(m.op).kind == "reduce" or (m.type.shape in row_shapes
                                                     and m.type.shape != d)}

    def lower(self) -> KernelIR:
        k = self.kernel
        reductions = []
        for m in k.members:
            if get_op(m.op).kind != "reduce":
                continue
            source = self.value(m.inputs[0], self.full_index)
            reductions.append(self.add(_reduce(m, source, k.reduce_axes)))
            self.reduced[m.uid] = reductions[-1]
        rows = self.row_level()
        stores = []
        for node in k.outputs:  # per-row values first, in member order: the renderer
            if node.uid in rows:  # stores each once the reductions it reads are done
                index = self.row_index(node.type.shape)
                stores.append(Store(self.param(node, "out"), self.value(node, index), index,
                                    True))
        order = {m.uid: n for n, m in enumerate(k.members)}
        stores.sort(key=lambda s: order[self.params[s.param].node.uid])
        for node in k.outputs:
            if node.uid not in rows:
                stores.append(Store(self.param(node, "out"),
                                    self.value(node, self.full_index), self.full_index, False))
        return KernelIR(k.name, k.domain, tuple(k.reduce_axes), self.dims, tuple(self.sizes),
                        tuple(self.values), tuple(reductions), tuple(stores),
                        tuple(self.params), tuple(k.ops))


def _reduce(node: Node, source: int, axes: tuple[int, ...]) -> Reduce:
    """The Reduce value of reduction ``node`` over value ``source``."""
    src = node.inputs[0].type.dtype
    combine = get_op(node.op).scalar_op  # the combine its op definition names
    if combine in ("sum", "prod"):
        identity: bool | int | float = 0 if combine == "sum" else 1
    elif src == np.bool_:
        identity = combine not in ("max", "argmax")
    elif np.issubdtype(src, np.floating):
        identity = -np.inf if combine in ("max", "argmax") else np.inf
    else:
        info = np.iinfo(src)
        identity = int(info.min if combine in ("max", "argmax") else info.max)
    position = node.attrs["axes"][0] if combine in ("argmax", "argmin") else None
    return Reduce(combine, source, tuple(axes), identity, src.name, node.type.dtype.name,
                  position)


def lower_kernel(fused: FusedGraph, kernel: Kernel, runtime_scalars: set[int]) -> KernelIR:
    """The kernel IR of one ``loop`` kernel of ``fused``. ``runtime_scalars`` are the uids
    of scalar nodes passed at run time (the others become literals)."""
    return _Lowering(fused, kernel, runtime_scalars).lower()
