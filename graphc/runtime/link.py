"""The linker: a fused, scheduled, memory-planned graph → an immutable Program.

:class:`ProgramBuilder` renders each loop kernel (graphc.codegen), binds each library
kernel to the backend's implementation of its op, gives every value a slot, decides which
outputs may be computed in place over a donated argument, and records what the precompile
helper needs to predict kernel argument types. The Program it returns holds no graph.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..backends import Backend, LibraryKernel
from ..codegen.cpu import KernelSource, in_place_source, render_kernel
from ..codegen.cpu_in_place import in_place_pairs
from ..ir import FusedGraph, Kernel, Node, is_frontier
from ..ir.kernel_ir import Param
from ..ir.node import SCALAR_OPS
from ..ir.types import Attrs
from ..ops import get_op
from ..passes.memory import MemoryPlan
from .kernel_calls import CallPlan
from .program import (
    ARENA,
    DONATED,
    RESERVED_SLOTS,
    InPlace,
    Program,
    Step,
    library_step,
    loop_step,
    overwritable,
)

# A Program's steps are made from plain data by the functions below, both when the
# linker builds the Program and when graphc.runtime.snapshot loads one a process saved:
# an allocation is ("planned", buffer, shape, dtype) or ("fresh", shape, dtype).


def allocator_of(spec: tuple) -> Callable[[list], np.ndarray]:
    """The allocator an allocation ``spec`` describes: a planned buffer of the call's
    arena (made at its first use), or a new array per call (outputs: handed to the
    caller)."""
    if spec[0] == "planned":
        _, b, shape, name = spec
        dtype = np.dtype(name)

        def reused(vals, b=b, shape=shape, dtype=dtype):
            arena = vals[ARENA]  # this call's planned buffers
            buf = arena[b]
            if buf is None:
                buf = arena[b] = np.empty(shape, dtype)
            return buf

        return reused
    _, shape, name = spec
    dtype = np.dtype(name)
    return lambda vals, shape=shape, dtype=dtype: np.empty(shape, dtype)


def view_fn(ops: list[tuple[str, Attrs]]):
    """NumPy views for a chain of movement ops, ``(op, attrs)`` from the base out."""
    steps = [(get_op(op).reference, attrs) for op, attrs in ops]

    def view(a: np.ndarray) -> np.ndarray:
        for ref, attrs in steps:
            a = ref([a], attrs)
        return a

    return view


def view_step_of(name: str, src: int, dst: int, view: Callable) -> Step:
    """A step setting slot ``dst`` to ``view`` (NumPy movement) of slot ``src``."""
    return Step(name, lambda v, s=src, d=dst, f=view: v.__setitem__(d, f(v[s])), (src,),
                (dst,))


def const_step_of(dst: int, value) -> Step:
    """A step setting slot ``dst`` to the constant ``value``."""
    return Step("const", lambda v, d=dst, c=value: v.__setitem__(d, c), (), (dst,))


def library_fn(library: LibraryKernel, attrs: Attrs, dtype, mode: tuple) -> Callable:
    """``fn(vals, *inputs)`` computing a library kernel's result. ``mode``: ("donor",
    switch, input, shape), computing into that input's buffer where the call donated
    it; ("into", allocation spec), into a planned or fresh buffer; ("returns",), the
    backend's function returning the array."""
    dtype = np.dtype(dtype)
    if mode[0] == "donor":  # may update an argument in place (see _in_place_pairs)
        _, switch, donor, shape = mode
        lib = library.into

        def fn(vals, *xs, switch=switch, donor=donor, lib=lib, attrs=attrs, shape=shape,
               dtype=dtype):
            c = xs[donor]
            out = c if overwritable(c, switch in vals[DONATED]) else np.empty(shape, dtype)
            lib(xs, attrs, out)
            return out
    elif mode[0] == "into":  # the backend's kernel, into a planned buffer
        alloc, lib = allocator_of(mode[1]), library.into

        def fn(vals, *xs, alloc=alloc, lib=lib, attrs=attrs):
            out = alloc(vals)
            lib(xs, attrs, out)
            return out
    else:
        ref = library.returns

        def fn(vals, *xs, ref=ref, attrs=attrs, dtype=dtype):
            with np.errstate(all="ignore"):
                return np.asarray(ref(list(xs), attrs), dtype=dtype)
    return fn


def _unbound(params: list[Param]) -> list[Param]:
    """A kernel signature without the graph nodes its parameters were bound to."""
    return [replace(p, node=None) for p in params]


def kernel_label(kernel: Kernel) -> str:
    """Which model part a fused kernel computes, for the progress display: the module
    scope most of its nodes were built in (else that of the nodes they read, as for a
    gradient), then its op; ``(backward)`` for a kernel autodiff made."""
    op = kernel.name.split("_", 1)[-1]
    members = kernel.members
    scope = _scope_of(members) or _scope_of([i for n in members for i in n.inputs][:256])
    if sum(n.meta.from_autodiff for n in members) * 2 > len(members) and "backward" not in op:
        op += " (backward)"
    return f"{scope}: {op}" if scope else op


def _scope_of(nodes: list[Node]) -> str:
    scopes = Counter(n.meta.scope for n in nodes if n.meta.scope)
    return scopes.most_common(1)[0][0] if scopes else ""


class ProgramBuilder:
    """Links a fused, scheduled graph into a :class:`Program`: renders and loads each
    loop kernel, binds library kernels, assigns value slots and in-place pairs.
    ``build()`` returns the Program; ``sources`` and ``calls`` stay for explain and the
    two-process compile."""

    def __init__(self, fused: FusedGraph, args: list[Node], outputs: list[Node],
                 plan: MemoryPlan, updates: set[tuple[int, int]] = frozenset(),
                 key_index: dict[int, int] | None = None, *, backend: Backend) -> None:
        self.fused = fused
        self.backend = backend  # its library table computes the opaque ops
        # id(NodeMeta) → position in the structural key's order of the node built with it
        # (passes keep a node's metadata object when they rebuild it): a failing step
        # names the line of the node at that position in the failing call's graph.
        self.key_index = key_index or {}
        self.updates = updates  # (argument index, output index) pairs to prefer
        self.plan = plan
        self.slot_of: dict[int, int] = {}
        self.slot_type: list = [None] * RESERVED_SLOTS  # TensorType of each slot's value
        self.steps: list[Step] = []
        self.n_slots = RESERVED_SLOTS  # a call's arena and donated switches come first
        self.runtime_scalars = {a.uid for a in args if a.op == "scalar"}
        self.arg_slots = [self.slot(a) for a in args]
        self.constants: dict[int, object] = {}
        self.constant_scalars: dict[int, int] = {}  # uid → slot (scalar_slot)
        self.n_switches = 0
        self.sources: list = []
        self.outputs = outputs
        self.output_uids = {o.uid for o in outputs}
        self.view_base: dict[int, int] = {}  # slot of a view step's result → its base slot
        # What each step does, for predicting kernel argument types before the first run
        # (see CallPlan): step index → ("view", src, dst, fn) | ("const", dst, value) |
        # ("loop", dispatcher, params, sizes, source, in-place variant, signature,
        # the variant's signature).
        self.step_info: dict[int, tuple] = {}
        # Steps that may write their result into an argument's buffer: (step index,
        # argument slot, result slot, switch), the switch an int a call turns on.
        self.in_place: list[tuple[int, int, int, int]] = []
        # Seconds spent rendering loop kernels' sources and loading their modules (the
        # compiler reports them among its stages).
        self.seconds = {"render": 0.0, "load": 0.0}
        # What each step is made from, as plain data (see allocator_of): what
        # graphc.runtime.snapshot saves, so that a later process builds this Program
        # without the passes, fusion or rendering. None where a builder makes steps from
        # live objects (the GPU's).
        self.records: list[tuple] | None = []

    def record(self, entry: tuple) -> None:
        if self.records is not None:
            self.records.append(entry)

    def switch(self) -> int:
        """A new in-place switch (see Program.run)."""
        self.n_switches += 1
        return self.n_switches - 1

    def slot(self, node: Node) -> int:
        if node.uid not in self.slot_of:
            self.slot_of[node.uid] = self.new_slot(node)
        return self.slot_of[node.uid]

    def new_slot(self, node: Node) -> int:
        """A slot of its own for a value of ``node``'s type."""
        self.slot_type.append(node.type)
        self.n_slots += 1
        return self.n_slots - 1

    def array_slot(self, node: Node) -> int:
        """The slot holding ``node`` as an array, adding view steps for free nodes."""
        if node.uid in self.slot_of:
            return self.slot_of[node.uid]
        if node.uid in self.fused.free:
            chain = []
            cur = node
            while cur.uid in self.fused.free:
                chain.append(cur)
                cur = cur.inputs[0]
            src = self.array_slot(cur)
            dst = self.slot(node)
            self.view_base[dst] = self.view_base.get(src, src)
            ops = [(n.op, n.attrs) for n in reversed(chain)]
            self.record(("view", node.op, src, dst, ops))
            self.view_step(node, src, dst, view_fn(ops))
            return dst
        if is_frontier(node):  # a baked constant (folded or in the key)
            dst = self.slot(node)
            value = np.asarray(node.value if node.op in SCALAR_OPS else node.buffer,
                               dtype=node.type.dtype)
            self.const_step(dst, value)
            return dst
        raise AssertionError(f"no value for %{node.uid} {node.op}")

    def scalar_slot(self, node: Node) -> int:
        """The slot of a kernel's scalar parameter: a runtime argument's, or a constant's
        that lowering made a parameter (codegen/lower.py), set on every call to the
        constant's value as a host scalar of its dtype (on either backend). Such a slot
        is apart from the constant's array slot (``array_slot``), which a library kernel
        or a view may read as an array (on the GPU, on the device)."""
        if node.uid in self.runtime_scalars:
            return self.slot_of[node.uid]
        dst = self.constant_scalars.get(node.uid)
        if dst is None:
            dst = self.constant_scalars[node.uid] = self.new_slot(node)
            ProgramBuilder.const_step(self, dst, node.type.dtype.type(node.value))
        return dst

    def view_step(self, node: Node, src: int, dst: int, view: Callable) -> None:
        """A step setting slot ``dst`` to ``view`` (NumPy movement) of slot ``src``."""
        self.step_info[len(self.steps)] = ("view", src, dst, view)
        self.steps.append(view_step_of(f"view {node.op}", src, dst, view))

    def const_step(self, dst: int, value: np.ndarray) -> None:
        """A step setting slot ``dst`` to the constant ``value``."""
        self.record(("const", dst, value))
        self.step_info[len(self.steps)] = ("const", dst, value)
        self.steps.append(const_step_of(dst, value))

    def allocation(self, node: Node) -> tuple:
        """How ``node``'s array is allocated (see :func:`allocator_of`)."""
        dtype = node.type.dtype.name
        if node.uid in self.plan.buffer_of:
            return ("planned", self.plan.buffer_of[node.uid], node.type.shape, dtype)
        return ("fresh", node.type.shape, dtype)

    def allocator(self, node: Node):
        return allocator_of(self.allocation(node))

    def loop_kernel(self, kernel: Kernel) -> None:
        from ..codegen.cache import load_kernel  # imports numba: only when compiling

        t0 = time.perf_counter()
        ks = render_kernel(self.fused, kernel, self.runtime_scalars)
        self.sources.append(ks)
        t1 = time.perf_counter()
        dispatcher = load_kernel(ks.source)
        self.seconds["render"] += t1 - t0
        self.seconds["load"] += time.perf_counter() - t1
        params = []
        outs = []
        allocations = []
        for p in ks.params:
            if p.kind == "out":
                s = self.slot(p.node)
                params.append(("out", s))
                spec = self.allocation(p.node)
                outs.append((s, allocator_of(spec)))
                allocations.append((s, spec))
            elif p.kind == "scalar":
                params.append(("scalar", self.scalar_slot(p.node)))
            else:
                params.append(("in", self.array_slot(p.node)))
        sizes = np.array(ks.sizes or [0], dtype=np.int64)
        plain = all(p.node.type.dtype != np.float16 for p in ks.params)
        variant, variant_signature = self._loop_in_place(ks, params) if plain else (None, [])
        if plain:  # float16 arguments are converted at the call: not predicted
            # (The signatures without their nodes: the Program cache keeps this plan, and
            # a node would keep the compiling call's buffers alive.)
            self.step_info[len(self.steps)] = ("loop", dispatcher, params, sizes, ks.source,
                                               variant, _unbound(ks.params),
                                               _unbound(variant_signature))
        self.record(("loop", kernel.name, ks.source, params, allocations, ks.sizes or [0],
                     plain, None if variant is None else
                     (variant.source, variant.params, variant.pairs)))
        self.steps.append(loop_step(kernel.name, dispatcher, params, outs, sizes, plain,
                                    variant))

    def _loop_in_place(self, ks: KernelSource, params: list[tuple[str, int]]
                       ) -> tuple[InPlace | None, list]:
        """The in-place variant of a loop kernel (graphc.codegen.cpu_in_place) for outputs
        that leave the Program and are computed element by element from an argument of
        their type read directly (a state update), with its signature; None if it has
        none. (Such outputs get fresh arrays when not donated, as every Program output
        does.)"""
        candidates = []
        for o, p in enumerate(ks.params):
            if p.kind != "out" or p.node.uid not in self.output_uids:
                continue
            for i, q in enumerate(ks.params):
                slot = params[i][1]
                if (q.kind == "in" and q.node.type == p.node.type and slot in self.arg_slots
                        and slot not in self.view_base):
                    candidates.append((i, o))
        # An output may be computable over several inputs of its type (a new momentum
        # buffer over the weight it also reads): the pairs the caller will donate first.
        output_index = {n.uid: j for j, n in enumerate(self.outputs)}
        candidates.sort(key=lambda c: (self.arg_slots.index(params[c[0]][1]),
                                       output_index[ks.params[c[1]].node.uid])
                        not in self.updates)
        used_in, used_out, unique = set(), set(), []
        for i, o in self.legal_in_place(ks, candidates):  # one input per output and back
            if i not in used_in and o not in used_out:
                used_in.add(i)
                used_out.add(o)
                unique.append((i, o))
        if not unique:
            return None, []
        out_of = dict(unique)
        pairs = []
        for i, o in unique:
            switch = self.switch()
            arg_slot, out_slot = params[i][1], params[o][1]
            self.in_place.append((len(self.steps), arg_slot, out_slot, switch))
            pairs.append((arg_slot, out_slot, switch))
        merged_outs = set(out_of.values())
        variant_params = [("in", params[out_of[n]][1]) if n in out_of else params[n]
                          for n in range(len(params)) if n not in merged_outs]
        signature = [p for n, p in enumerate(ks.params) if n not in merged_outs]
        return self.in_place_variant(ks, unique, variant_params, pairs), signature

    def legal_in_place(self, ks, candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The (input, output) parameter pairs of ``candidates`` the backend's schedule
        lets the output overwrite the input."""
        return in_place_pairs(ks.ir, ks.schedule, candidates)

    def in_place_variant(self, ks, unique: list[tuple[int, int]],
                         params: list[tuple[str, int]], pairs: list[tuple[int, int, int]]):
        """The variant of ``ks`` run when a call donates (see :class:`InPlace`)."""
        return InPlace(in_place_source(ks, unique), params, pairs)

    def library_kernel(self, kernel: Kernel) -> None:
        (node,) = kernel.members
        self.sources.append(kernel)
        in_slots = [self.array_slot(i) for i in node.inputs]
        out = self.slot(node)
        library = self.backend.library_kernel(node.op)
        dtype = node.type.dtype
        donor = self._in_place_donor(node, library, in_slots)
        if donor is not None:  # may update an argument in place (see _in_place_pairs)
            switch = self.switch()
            self.in_place.append((len(self.steps), in_slots[donor], out, switch))
            mode: tuple = ("donor", switch, donor, node.type.shape)
        elif library.into is not None:
            mode = ("into", self.allocation(node))
        else:
            mode = ("returns",)
        location, key_index = node.meta.location, self.key_index.get(id(node.meta))
        self.record(("library", kernel.name, node.op, node.attrs, in_slots, out,
                     dtype.name, mode, location, key_index))
        fn = library_fn(library, node.attrs, dtype, mode)
        self.steps.append(library_step(kernel.name, fn, in_slots, out, location, node.op,
                                       key_index))

    def _in_place_donor(self, node: Node, library: LibraryKernel, in_slots: list[int]
                        ) -> int | None:
        """The input of ``node`` whose buffer its library kernel may update in place: a
        kernel that can, reading a C-contiguous argument directly (not through a view),
        whose result leaves the Program (an update the caller writes back)."""
        i = library.in_place_input
        if i is None or node.uid not in self.output_uids:
            return None
        slot = in_slots[i]
        if slot not in self.arg_slots or slot in self.view_base:
            return None
        return i

    def _in_place_pairs(self, output_slots: list[int]) -> dict[tuple[int, int], int]:
        """``(argument index, output index) → switch`` for each update Program.run may
        do in place: no later step reads the argument (or a view of it), the step reads
        it through no other input, and no output is the argument or a view of it."""
        base = self.view_base
        pairs: dict[tuple[int, int], int] = {}
        for index, arg_slot, out_slot, switch in self.in_place:
            step = self.steps[index]
            readers = [base.get(s, s) for s in step.reads].count(arg_slot)
            later = any(base.get(s, s) == arg_slot
                        for t in self.steps[index + 1:] for s in t.reads)
            aliased = any(base.get(s, s) == arg_slot for s in output_slots)
            if readers != 1 or later or aliased:
                continue
            arg = self.arg_slots.index(arg_slot)
            for j, s in enumerate(output_slots):
                if s == out_slot:
                    pairs[(arg, j)] = switch
        return pairs

    def build(self) -> Program:
        kernel_steps = {}
        for kernel in self.fused.kernels:
            if kernel.kind == "library":
                self.library_kernel(kernel)
            else:
                self.loop_kernel(kernel)
            # (The kernel's call is the last step it adds, after views of its inputs.)
            kernel_steps[len(self.steps) - 1] = (kernel.kind, kernel_label(kernel))
        output_slots = [self.array_slot(o) if o.uid not in self.slot_of else self.slot_of[o.uid]
                        for o in self.outputs]
        kernels = [k.source if not isinstance(k, Kernel) else k.name  # text, no nodes
                   for k in self.sources]
        arg_slots = set(self.arg_slots)
        program = Program(self.steps, self.n_slots, self.arg_slots, output_slots,
                          kernels, in_place=self._in_place_pairs(output_slots),
                          n_planned=len(self.plan.buffers),
                          arg_outputs=tuple(j for j, s in enumerate(output_slots)
                                            if s in arg_slots),
                          kernel_steps=kernel_steps)
        self.calls = CallPlan(self.step_info, self.slot_type, self.arg_slots)
        program.first_run = self.calls.parallel_compile_hook()
        return program
