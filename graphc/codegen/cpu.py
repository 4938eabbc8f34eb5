"""CPU code generation: one fused loop kernel → readable Python source for numba.

The kernel's iteration domain is split into kept axes (the first one under ``prange``)
and reduced axes. Each reduction is one loop over the reduced axes per row,
accumulating in a wide type; values of the reduced shape ("row values") are then plain
locals, so reduce-then-broadcast patterns such as softmax run as one kernel. A row of
at least ``LANE_MIN_ROW`` points whose last axis is reduced accumulates in lanes, one per
position of that axis. When the last axis is kept (a bias gradient: sum over the batch),
the kernel accumulates per column instead (``cpu_columns.py``); when every axis is
reduced, the first reduced axis runs under ``prange`` as a numba reduction
(``cpu_whole.py``).

Loops always start at 0 (``prange(n)``, ``range(n)``): numba then knows indices are
non-negative, drops its negative-index wraparound and LLVM vectorises the inner loop.
Measured here on 16M float32: a hand-blocked ``range(lo, hi)`` loop ran 19 ms where the
same loop under ``prange`` ran 6 ms.

Sizes are never baked into the source: they arrive in the ``sh`` array, so a new batch
size reuses the compiled kernel. Only dtypes, ranks, which axes are 1 (the broadcast
pattern) and op attributes shape the text.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..ir import FusedGraph, Kernel, Node
from ..ops import get_op
from ..ops.attrs import literal as number_literal
from .cpu_columns import ColumnReductions
from .cpu_members import REDUCE_OPS, MemberQueries
from .cpu_whole import WholeReductions

# Reassociation lets a reduction's loop vectorise; no nnan/ninf, so NaN and Inf keep their
# semantics. Only kernels with a reduction get it, and their order of operations is still
# fixed by the source and the compiled code (whole reductions run in blocks of a fixed
# order: cpu_whole.py), so results do not depend on threads. A map kernel compiles with
# strict IEEE arithmetic: LLVM may not reassociate (x * s) * t into x * (s * t), so it
# computes each op as NumPy does (the interpreted first-sighting tier, in-place variants).
# No FMA contraction ("contract"): a kernel recomputes a value in several passes (the max
# of a row, then `x == max` for its gradient), and contraction may fuse `x*x + c` into an
# FMA in one loop and not in another, so the recomputed value misses the max by an ulp
# and the gradient of a max loses its mass (found by the differential gradient test).
# error_model="numpy": a float division by zero gives inf or nan, as in NumPy (numba's
# default raises ZeroDivisionError).
FASTMATH = '{"reassoc"}'
# Below this many points in its iteration domain a kernel runs serially: numba's thread
# launch costs more than it saves there, and a serial kernel compiles several times
# faster (parfors lowering dominates cold compile time). So each kernel has at most two
# variants, small and large, never one per size. 2^20: inside the MLP training step the
# serial SGD update of a 512x784 weight took 0.20-0.25 ms against 0.29-0.31 ms under
# prange (waking the sleeping threads costs more than the second core saves on a
# memory-bound pass), and compiles 0.5 s faster.
PARALLEL_MIN_ELEMENTS = 1 << 20
# Reductions accumulate into arrays where that keeps the inner loop contiguous and
# vectorised: per-column accumulators when the last axis is kept (cpu_columns.py), lanes
# over a reduced last axis. False renders the older scalar-accumulator rows (benchmarks
# compare the two: scripts/bench_reductions.py).
ARRAY_ACCUMULATORS = True
# Lanes pay one small allocation per row: only rows of at least this many reduced points
# use them (measured sums over (1, 2): 32-point rows 4x slower with lanes, 128-point rows
# 1.6x slower, 224 to 2048 even, BatchNorm's 784 x 64 rows 2x faster).
LANE_MIN_ROW = 512


@dataclass
class Param:
    """How the executor binds one kernel argument."""

    kind: str  # "out" | "in" | "scalar"
    node: Node


@dataclass
class KernelSource:
    """A rendered kernel: its module source and how to call it."""

    kernel: Kernel
    source: str
    params: list[Param]
    sizes: list[int]  # values of sh[0], sh[1], ...


@functools.cache
def _specialize() -> Callable[[str, str], str]:
    from .mathlib import specialize  # imports numba: only when a kernel is rendered

    return specialize


def compute_dtype(dtype: np.dtype) -> str:
    """The dtype a kernel computes in: float16 is a storage type on the CPU."""
    return "float32" if dtype == np.float16 else dtype.name


def literal(value: object, dtype: np.dtype) -> str:
    """A typed scalar literal (typed, so float32 math stays float32); TypeError unless
    ``value`` is a number (see :func:`graphc.ops.attrs.literal`)."""
    name = compute_dtype(dtype)
    text = number_literal(value)
    if name == "bool":
        return "True" if value else "False"
    return f"{name}({text})"


class _Renderer(MemberQueries, ColumnReductions, WholeReductions):
    def __init__(self, fused: FusedGraph, kernel: Kernel, runtime_scalars: set[int]) -> None:
        self.fused = fused
        self.kernel = kernel
        self.members = {m.uid for m in kernel.members}
        self.runtime_scalars = runtime_scalars
        self.lines: list[str] = []
        self.depth = 1
        self.sizes: list[int] = []
        self.scopes: list[dict] = [{}]
        self.row_vars: dict[int, str] = {}
        self.counter = 0
        self.params: list[Param] = []
        self.names: dict[int, str] = {}
        domain = kernel.domain
        self.axes = set(kernel.reduce_axes)
        self.full_index = tuple("0" if d == 1 else f"i{k}" for k, d in enumerate(domain))
        self.dim_names: dict[int, str] = {}
        self.stored: set[int] = set()
        # 0-d input arrays (a learning rate) are read once, before the loops: parfor
        # lowering cannot index a 0-d array inside a prange loop.
        self.prologue: list[str] = []
        self.hoisted: dict[str, str] = {}
        self.parallel = False
        self.unsigned: dict[str, str] = {}  # loop index → its unsigned copy (cpu_whole.py)

    # ---- small helpers ----------------------------------------------------------
    def emit(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def size(self, n: int) -> str:
        self.sizes.append(int(n))
        return f"sh[{len(self.sizes) - 1}]"

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def lookup(self, key: tuple) -> str | None:
        for scope in reversed(self.scopes):
            if key in scope:
                return scope[key]
        return None

    def push(self) -> None:
        self.scopes.append({})
        self.depth += 1

    def pop(self) -> None:
        self.scopes.pop()
        self.depth -= 1

    @staticmethod
    def subscript(index: tuple[str, ...]) -> str:
        return "[" + ", ".join(index) + "]" if index else "[()]"  # a 0-d array

    def row_index(self, shape: tuple[int, ...]) -> tuple[str, ...]:
        domain = self.kernel.domain
        keep = tuple("0" if k in self.axes else self.full_index[k] for k in range(len(domain)))
        if len(shape) == len(domain):
            return keep
        return tuple(self.full_index[k] for k in range(len(domain)) if k not in self.axes)

    # ---- values -----------------------------------------------------------------
    def value(self, node: Node, index: tuple[str, ...]) -> str:
        """The expression of ``node`` at ``index``, emitting the statements it needs.

        Iterative (an explicit stack, not recursion), so fused chains of any length work;
        each (node, index) pair is computed once per loop scope.
        """
        stack: list[tuple[Node, tuple[str, ...], bool]] = [(node, index, False)]
        moved: dict[tuple, tuple] = {}  # (uid, index) of a movement node → (input, index)
        while stack:
            n, idx, ready = stack.pop()
            key = (n.uid, idx)
            if self.lookup(key) is not None or n.uid in self.row_vars:
                continue
            computed = n.uid in self.members or n.uid in self.fused.free
            if not computed:
                self.scopes[-1][key] = self._load_var(n, idx)
                continue
            op = get_op(n.op)
            if op.kind == "movement":
                if key not in moved:
                    inner = op.index_map(n.inputs[0].type, n.type, n.attrs, idx, self.size)
                    moved[key] = (n.inputs[0], tuple(inner), inner)
                child, child_idx, inner = moved[key]
                if ready:
                    read = self._resolved(child, child_idx)
                    if hasattr(inner, "condition"):  # a guarded read (constant pad)
                        var = self.fresh()
                        fill = literal(inner.fill, n.type.dtype)
                        self.emit(f"{var} = {read} if {inner.condition} else {fill}")
                        read = var
                    self.scopes[-1][key] = read
                else:
                    stack += [(n, idx, True), (child, child_idx, False)]
                continue
            if not ready:
                stack.append((n, idx, True))
                stack += [(i, idx, False) for i in reversed(n.inputs)]
                continue
            args = [self._resolved(i, idx) for i in n.inputs]
            attrs = {k: compute_dtype(np.dtype(v)) if k == "dtype" else number_literal(v)
                     for k, v in n.attrs.items()}  # never an attribute as text
            var = self.fresh()
            template = _specialize()(op.template, compute_dtype(n.inputs[0].type.dtype)) \
                if n.inputs else op.template
            self.emit(f"{var} = {template.format(*args, **attrs)}")
            self.scopes[-1][key] = var
        return self._resolved(node, index)

    def _resolved(self, node: Node, index: tuple[str, ...]) -> str:
        if node.uid in self.row_vars:
            return self.row_vars[node.uid]
        hit = self.lookup((node.uid, index))
        assert hit is not None, (node, index)
        return hit

    def _load_var(self, node: Node, index: tuple[str, ...]) -> str:
        """A read of a stored value: literals and scalar parameters are used as they are,
        array elements are loaded into a local."""
        expr = self.load(node, index)
        if not expr.startswith(("in", "out")):
            return expr
        var = self.fresh()
        self.emit(f"{var} = {expr}")
        return var

    def load(self, node: Node, index: tuple[str, ...]) -> str:
        scalar = node.op in ("const", "scalar")
        if scalar and node.uid not in self.runtime_scalars:
            return literal(node.value, node.type.dtype)
        if node.uid not in self.names:
            kind = "scalar" if scalar else "in"
            self.names[node.uid] = f"{'s' if kind == 'scalar' else 'in'}{len(self.params)}"
            self.params.append(Param(kind, node))
        name = self.names[node.uid]
        if scalar:
            return name
        if not node.type.shape:
            if name not in self.hoisted:
                self.hoisted[name] = f"{name}v"
                self.prologue.append(f"    {name}v = {name}[()]")
            return self.hoisted[name]
        return name + self.subscript(tuple(self.unsigned.get(i, i) for i in index))

    def out_name(self, node: Node) -> str:
        if node.uid not in self.names:
            self.names[node.uid] = f"out{len(self.params)}"
            self.params.append(Param("out", node))
        return self.names[node.uid]

    # ---- reductions -------------------------------------------------------------
    def reduction_parts(self, node: Node) -> tuple[str, str, str]:
        """(accumulator dtype, initial value, combine statement template)."""
        src = node.inputs[0].type.dtype
        is_float = np.issubdtype(src, np.floating)
        op = node.op
        if op in ("sum", "prod"):
            acc = "float64" if is_float else "int64"
            init = f"{acc}({0 if op == 'sum' else 1})"
            return acc, init, "{acc} = {acc} + {v}" if op == "sum" else "{acc} = {acc} * {v}"
        if src == np.bool_:
            init = "False" if op in ("max", "argmax") else "True"
            combine = "{acc} = {acc} or {v}" if op == "max" else "{acc} = {acc} and {v}"
            return "bool_", init, combine
        name = compute_dtype(src)
        if is_float:
            init = f"{name}({'-' if op in ('max', 'argmax') else ''}np.inf)"
        else:
            info = np.iinfo(src)
            init = f"{name}({info.min if op in ('max', 'argmax') else info.max})"
        cmp = ">" if op in ("max", "argmax") else "<"
        nan = " or ({v} != {v} and {acc} == {acc})" if is_float else ""
        return name, init, f"{{acc}} = {{v}} if ({{v}} {cmp} {{acc}}{nan}) else {{acc}}"

    def reduce_loops(self, loops: list[int], body, parallel: bool = False) -> None:
        """Nested loops over ``loops`` axes; the first under ``prange`` if ``parallel``."""
        for n, axis in enumerate(loops):
            loop = "prange" if parallel and n == 0 else "range"
            self.emit(f"for i{axis} in {loop}({self.dim(axis)}):")
            self.push()
        body()
        for _ in loops:
            self.pop()

    def dim(self, axis: int) -> str:
        if axis not in self.dim_names:
            self.dim_names[axis] = self.size(self.kernel.domain[axis])
        return self.dim_names[axis]

    # ---- kernel -----------------------------------------------------------------
    def render(self) -> KernelSource:
        k = self.kernel
        domain = k.domain
        loops = [a for a, d in enumerate(domain) if d != 1]
        kept = [a for a in loops if a not in self.axes]
        reduced = [a for a in loops if a in self.axes]
        order = k.members
        reductions = [m for m in order if m.op in REDUCE_OPS]
        outputs = set(o.uid for o in k.outputs)
        full_outputs = [m for m in k.outputs if m.uid not in self._row_level(order)]
        row_nodes = [m for m in order if m.uid in self._row_level(order)
                     and m.op not in REDUCE_OPS]
        body_start = len(self.lines)
        parallel = self.parallel = math.prod(domain) >= PARALLEL_MIN_ELEMENTS
        for a in loops:  # sizes in domain order: sh[0] is the first loop's
            self.dim(a)
        if ARRAY_ACCUMULATORS and reductions and kept and reduced and loops[-1] in kept:
            # The last, contiguous axis is kept: accumulate column-wise (cpu_columns.py).
            self.render_columns(loops, kept, reductions, row_nodes, full_outputs, outputs,
                                parallel)
        elif kept or not reductions:
            # Parallel over the first kept axis; reductions run per row inside.
            if kept:
                for n, a in enumerate(kept):
                    self.emit(f"for i{a} in {'prange' if n == 0 else 'range'}({self.dim(a)}):")
                    self.push()
            reuse = self._reusable(reductions[-1], full_outputs) if reductions else None
            for r in reductions:
                self.row_reduction(r, reduced, reuse if r is reductions[-1] else None)
                self.row_epilogue(r, row_nodes, outputs)
            if full_outputs:
                def final() -> None:
                    if reuse is not None:  # read back what the last reduction stored
                        shared, out = reuse
                        self.scopes[-1][(shared.uid, self.full_index)] = \
                            self.out_name(out) + self.subscript(self.full_index)
                    self.store(full_outputs)

                self.reduce_loops(reduced, final)
        else:
            for r in reductions:
                self.parallel_reduction(r, reduced)
                self.row_epilogue(r, row_nodes, outputs)
            if full_outputs:
                self.reduce_loops(reduced, lambda: self.store(full_outputs), parallel=True)
        body = self.prologue + self.lines[body_start:]
        if not parallel:
            body = [line.replace(" in prange(", " in range(") for line in body]
        params = self.params
        signature = ", ".join(self.names[p.node.uid] for p in params)
        uses_prange = "prange" in "\n".join(body)
        deco = "@njit(" + "parallel=True, " * uses_prange + "nogil=True, cache=True, " \
            + f"fastmath={FASTMATH}, " * bool(reductions) + 'error_model="numpy")'
        # The kernel's name stays out of its source: kernels of the same structure (every
        # layer's bias + ReLU) then share one cache entry and one compile.
        header = [
            f"# graphc kernel: {len(k.members)} ops over domain "
            f"{'x'.join('N' if d != 1 else '1' for d in domain) or 'scalar'}"
            + (f", reducing axes {k.reduce_axes}" if k.reduce_axes else ""),
            f"# ops: {' '.join(k.ops)}",
            "import numpy as np",
            "from numba import njit, prange",
            "from numpy import bool_, float32, float64, int8, int16, int32, int64, uint8",
            "from graphc.codegen.mathlib import *  # noqa: F403",
            "",
            "",
            deco,
            f"def kernel({signature}{', ' if signature else ''}sh):",
        ]
        if not body:
            body = ["    pass"]
        source = "\n".join(header + body) + "\n"
        return KernelSource(k, source, params, self.sizes)

    def store(self, nodes: list[Node]) -> None:
        for node in nodes:
            v = self.value(node, self.full_index)
            self.emit(f"{self.out_name(node)}{self.subscript(self.full_index)} = {v}")

    def row_reduction(self, r: Node, reduced: list[int],
                      reuse: tuple[Node, Node] | None = None) -> None:
        acc_dtype, init, combine = self.reduction_parts(r)
        acc = self.fresh("acc")
        self.emit(f"{acc} = {init}")
        is_arg = r.op in ("argmax", "argmin")
        best = self.fresh("arg") if is_arg else None
        if is_arg:
            self.emit(f"{best} = 0")
        nans = None
        if r.op in ("max", "min") and np.issubdtype(r.inputs[0].type.dtype, np.floating):
            # max()/min() vectorise; a NaN count keeps NumPy's NaN propagation.
            nans = self.fresh("nans")
            self.emit(f"{nans} = 0")
            combine = f"{{acc}} = {r.op}({{acc}}, {{v}})\n{nans} += 1 if {{v}} != {{v}} else 0"
        target, lane = acc, None
        row_points = math.prod(self.kernel.domain[a] for a in reduced)
        if (ARRAY_ACCUMULATORS and len(reduced) >= 2 and row_points >= LANE_MIN_ROW
                and not is_arg and r.inputs[0].type.dtype != np.bool_):
            # One accumulator per position of the last axis ("lanes"), folded after the
            # loops: the inner loop is then an elementwise update that vectorises however
            # short the axis is (28 in a BatchNorm sum over (0, 2, 3)), where a scalar
            # accumulator's vectorised loop would run mostly in its scalar remainder.
            lane = self.fresh("lane")
            target = f"{lane}[i{reduced[-1]}]"
            self.emit(f"{lane} = np.full(({self.dim(reduced[-1])},), {init}, {acc_dtype})")

        def body() -> None:
            v = self.value(r.inputs[0], self.full_index)
            if reuse is not None:
                shared, out = reuse
                keep = self.value(shared, self.full_index)
                self.emit(f"{self.out_name(out)}{self.subscript(self.full_index)} = {keep}")
            if is_arg:
                axis = r.attrs["axes"][0]
                self.emit(f"if {self.arg_condition(combine, v, acc)}:")
                self.emit(f"    {acc} = {v}")
                self.emit(f"    {best} = {self.full_index[axis]}")
            else:
                for line in combine.format(acc=target, v=v).split("\n"):
                    self.emit(line)

        self.reduce_loops(reduced, body)
        if lane is not None:
            self.emit(f"for i{reduced[-1]} in range({self.dim(reduced[-1])}):")
            self.emit("    " + combine.split("\n")[0].format(acc=acc, v=target))
        if nans is not None:
            self.emit(f"{acc} = {acc_dtype}(np.nan) if {nans} > 0 else {acc}")
        self.finish_row(r, best if is_arg else acc)

    @staticmethod
    def arg_condition(combine: str, v: str, acc: str) -> str:
        """When value ``v`` replaces ``acc`` in an argmax/argmin (from its combine rule)."""
        return combine.split(" if ", 1)[1].split(" else ")[0].format(v=v, acc=acc)

    def finish_row(self, r: Node, acc: str) -> None:
        var = self.fresh("r")
        self.emit(f"{var} = {compute_dtype(r.type.dtype)}({acc})")
        self.row_vars[r.uid] = var

    def row_epilogue(self, r: Node, row_nodes: list[Node], outputs: set[int]) -> None:
        """Compute and store row values that became available after reduction ``r``."""
        for node in [r] + row_nodes:
            if node.uid in outputs and node.uid not in self.stored and self._ready(node):
                index = self.row_index(node.type.shape)
                v = self.value(node, index)
                self.emit(f"{self.out_name(node)}{self.subscript(index)} = {v}")
                self.stored.add(node.uid)


def render_kernel(fused: FusedGraph, kernel: Kernel, runtime_scalars: set[int]) -> KernelSource:
    """The source text and call description of one ``loop`` kernel.

    ``runtime_scalars`` are the uids of const nodes passed at run time (not baked in).
    """
    return _Renderer(fused, kernel, runtime_scalars).render()
