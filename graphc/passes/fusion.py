"""The ``fuse`` pass: partition a graph into kernels, following DESIGN.md §5.

Nodes are visited in topological order and each joins the first kernel where it is
legal, else starts its own:

- elementwise and movement nodes over the kernel's iteration domain join it (one loop
  nest, several outputs where siblings share it); a kernel that computes none of a
  node's inputs takes it only as a sibling, reading an array the kernel reads (or one
  computed by the kernel that computes the node's input), and a node computed from
  stored values alone, with no such kernel, joins the kernel of its first consumer;
- a reduction joins the kernel computing its input (an elementwise prologue); nodes of
  the reduced shape join as an epilogue, and nodes that broadcast the reduced value back
  over the domain join too (softmax, layer norm: one kernel per row block);
- opaque ops (matmul, gather, ...) are library kernels of their own;
- a movement node that cannot join is a *free view* over the stored value it reads;
- a loop kernel takes at most ``OP_BUDGET`` compute ops (movement is free): a longer
  chain is cut into segments, and a repeated pattern's segments render the same source
  and so share one compiled kernel, while unrelated reductions over one domain stop
  piling into one kernel whose compile time grows faster than its size.

Legality is checked on index expressions: a member may be read at another element than
the one being computed only if it is a pure elementwise expression of stored inputs
(then it is recomputed there); a reduced value may be read only in its own row. A join
must not create a cycle between kernels.
"""

from __future__ import annotations

from ..ir import FusedGraph, Graph, Kernel, Node, is_frontier
from ..ir.kernel_ir import Ix, lit, size_param, var
from ..ir.node import SCALAR_OPS
from ..ops import OPS, get_op
from ..ops.reduce import reduced_shape
from . import graph_pass

# numba's compile time of one kernel grows faster than its op count (a 186-op kernel of
# reductions side by side took 42 s, the critical path of a cold first step), and a
# 2000-op chain compiles as one key where 64-op segments of it repeat one. A budget only
# refuses joins, which is always legal, and the partition is a function of the graph
# alone, so a graph's results are the same bits on every call. A cut in a map keeps
# bits (a map kernel computes each op as NumPy does); a cut beside a reduction may move
# results by ulps (reduction kernels compile with reassociation, codegen/cpu.py), and
# a float16 intermediate, float32 inside a kernel, is rounded where a cut stores it.
OP_BUDGET = 64


def _size_placeholder(n: int) -> Ix:
    return size_param(0)  # sizes never affect legality: one parameter stands for all


class _KernelState:
    """A kernel under construction, with what legality checks need."""

    def __init__(self, kernel: Kernel, index: int) -> None:
        self.kernel = kernel
        self.index = index
        self.level: dict[int, str] = {}  # member uid → "full" | "row"
        self.pure: dict[int, bool] = {}  # member uid → recomputable at any index
        self.deps: set[int] = set()  # indices of kernels this one reads
        self.ops = 0  # compute members (movement excluded), against OP_BUDGET
        self.reads: set[int] = set()  # uids of the stored arrays its members read

    @property
    def domain(self) -> tuple[int, ...]:
        return self.kernel.domain

    def full_index(self) -> tuple[Ix, ...]:
        return tuple(lit(0) if d == 1 else var(f"i{k}") for k, d in enumerate(self.domain))

    def row_forms(self) -> dict[tuple[int, ...], tuple[Ix, ...]]:
        """Shapes a row-level value may have, with the index of the current row."""
        axes = self.kernel.reduce_axes
        full = self.full_index()
        keep = tuple(lit(0) if k in axes else full[k] for k in range(len(self.domain)))
        drop = tuple(full[k] for k in range(len(self.domain)) if k not in axes)
        return {reduced_shape(self.domain, axes, True): keep,
                reduced_shape(self.domain, axes, False): drop}


class _Fuser:
    def __init__(self, graph: Graph, budget: int | None = None) -> None:
        self.graph = graph
        self.budget = OP_BUDGET if budget is None else budget
        self.states: list[_KernelState] = []
        self.kernel_of: dict[int, _KernelState] = {}
        self.free: dict[int, Node] = {}
        self.waiting: dict[int, Node] = {}  # placed with their first consumer (run)
        self.waiting_readers: dict[int, list[Node]] = {}  # array uid → waiting nodes

    # ---- dependency bookkeeping ---------------------------------------------------
    def _base(self, node: Node) -> Node:
        while node.uid in self.free:
            node = node.inputs[0]
        return node

    def _depends(self, src: int, target: int) -> bool:
        """Whether kernel ``src`` reads (transitively) from kernel ``target``."""
        stack, seen = [src], set()
        while stack:
            k = stack.pop()
            if k == target:
                return True
            if k in seen:
                continue
            seen.add(k)
            stack.extend(self.states[k].deps)
        return False

    def _input_kernels(self, node: Node) -> set[int]:
        out = set()
        for i in node.inputs:
            base = self._base(i)
            if base.uid in self.kernel_of:
                out.add(self.kernel_of[base.uid].index)
        return out

    # ---- legality -----------------------------------------------------------------
    def _readable(self, st: _KernelState, node: Node, index: tuple[Ix, ...]) -> bool:
        """Can ``st`` compute ``node`` at ``index`` (walking through movement)?"""
        while True:
            if node.uid in st.level:
                if st.level[node.uid] == "full":
                    return index == st.full_index() or st.pure[node.uid]
                return st.row_forms().get(node.type.shape) == index
            if node.uid in self.free or (_kind(node) == "movement" and node.uid not in
                                         self.kernel_of and not is_frontier(node)):
                op = get_op(node.op)
                index = op.index_map(node.inputs[0].type, node.type, node.attrs, index,
                                     _size_placeholder)
                node = node.inputs[0]
                continue
            return True  # stored elsewhere or frontier: read from memory

    def _level_of(self, st: _KernelState, node: Node) -> str | None:
        if _kind(node) == "reduce":
            src = node.inputs[0].type.shape
            axes = node.attrs["axes"]
            if src != st.domain or (st.kernel.reduce_axes and st.kernel.reduce_axes != axes):
                return None
            return "row"
        if node.type.shape == st.domain:
            return "full"
        if st.kernel.reduce_axes and node.type.shape in st.row_forms():
            return "row"
        return None

    def _index_for(self, st: _KernelState, node: Node, level: str) -> tuple[Ix, ...]:
        if _kind(node) == "reduce" or level == "full":
            return st.full_index()
        return st.row_forms()[node.type.shape]

    def _try_join(self, st: _KernelState, node: Node) -> bool:
        if st.kernel.kind != "loop":
            return False
        if st.ops >= self.budget and _kind(node) != "movement":
            return False
        level = self._level_of(st, node)
        if level is None:
            return False
        reduce_axes = st.kernel.reduce_axes
        if _kind(node) == "reduce" and not reduce_axes:
            st.kernel.reduce_axes = node.attrs["axes"]  # tentatively, for row checks
        reads_member = False
        for inp, in_index in self._input_indices(node, self._index_for(st, node, level)):
            base = self._base(inp)
            if base.uid in st.level or (self._chain_reaches(inp, st)):
                if not self._readable(st, inp, in_index):
                    st.kernel.reduce_axes = reduce_axes
                    return False
                reads_member = True
        for k in self._input_kernels(node):
            if k != st.index and self._depends(k, st.index):
                st.kernel.reduce_axes = reduce_axes
                return False
        if _kind(node) == "movement" and not reads_member:
            st.kernel.reduce_axes = reduce_axes
            return False  # a movement of stored data is a free view, not work
        self._add(st, node, level)
        return True

    def _chain_reaches(self, node: Node, st: _KernelState) -> bool:
        return self._base(node).uid in st.level

    def _add(self, st: _KernelState, node: Node, level: str) -> None:
        st.kernel.members.append(node)
        st.ops += _kind(node) != "movement"
        st.level[node.uid] = level
        member_inputs = [self._base(i) for i in node.inputs]
        st.reads.update(b.uid for b in member_inputs
                        if b.uid not in st.level and b.op not in SCALAR_OPS)
        st.pure[node.uid] = _kind(node) != "reduce" and all(
            st.pure.get(b.uid, True) for b in member_inputs if b.uid in st.level) and all(
            st.level.get(b.uid, "full") == "full" for b in member_inputs)
        self.kernel_of[node.uid] = st
        for k in self._input_kernels(node):
            if k != st.index:
                st.deps.add(k)

    def _new_kernel(self, node: Node, reason: str) -> None:
        op = get_op(node.op)
        if op.kind == "opaque":
            kernel = Kernel(f"k{len(self.states)}_{node.op}", "library", node.type.shape,
                            boundary=reason)
        elif _kind(node) == "reduce":
            kernel = Kernel(f"k{len(self.states)}_{node.op}", "loop",
                            node.inputs[0].type.shape, node.attrs["axes"], boundary=reason)
        else:
            kernel = Kernel(f"k{len(self.states)}_{node.op}", "loop", node.type.shape,
                            boundary=reason)
        st = _KernelState(kernel, len(self.states))
        self.states.append(st)
        self._add(st, node, "row" if _kind(node) == "reduce" else "full")

    # ---- driver -------------------------------------------------------------------
    def run(self) -> FusedGraph:
        for node in self.graph.pending():
            kind = get_op(node.op).kind
            waiting = self._waiting_inputs(node)
            if kind == "opaque":
                for w in waiting:  # a library call reads stored values
                    self._place_alone(w)
                self._new_kernel(node, f"{node.op} is a library call")
                continue
            producers = sorted(self._input_kernels(node), reverse=True)
            # A kernel that computes none of the node's inputs takes it only as a sibling
            # (it reads an array the kernel reads, or one the same kernel computed: layer
            # norm's weight and bias gradients): unrelated work of one shape, such as
            # the updates of many parameters, stays in kernels of its own, which share
            # one source, rather than piling into one kernel whose source is unique.
            reads = self._reads(node)
            for uid in reads:  # a sibling found: it waits no more
                for w in self.waiting_readers.pop(uid, ()):
                    if w not in waiting and w.uid in self.waiting:
                        self._place_alone(w)
            candidates = [self.states[k] for k in producers] + [
                st for st in reversed(self.states)
                if st.index not in producers and (not reads.isdisjoint(st.reads)
                                                  or not st.deps.isdisjoint(producers))]
            if any(self._try_join(st, node) for st in candidates):
                self._settle(waiting, node)
                continue
            if kind == "movement":
                self.free[node.uid] = node  # a view of a waiting node waits with it
                continue
            if kind == "elementwise" and not producers and not waiting:
                # Computed from stored values alone, with no kernel reading them: it
                # waits for its first consumer and joins that one's kernel (a running
                # mean's ``rm * 0.9`` joins the batch-norm kernel that adds the mean).
                self.waiting[node.uid] = node
                for uid in reads:
                    self.waiting_readers.setdefault(uid, []).append(node)
                continue
            self._new_kernel(node, self._reason(node, producers))
            self._settle(waiting, node)
        for w in list(self.waiting.values()):  # read by no later node: results
            self._place_alone(w)
        self._finish()
        order = [st.kernel for st in self._schedule()]
        return FusedGraph(self.graph, order, {u: st.kernel for u, st in self.kernel_of.items()},
                          dict(self.free))

    def _waiting_inputs(self, node: Node) -> list[Node]:
        out = []
        for i in node.inputs:
            base = self._base(i)
            if base.uid in self.waiting and base not in out:
                out.append(base)
        return out

    def _reads(self, node: Node) -> set[int]:
        return {b.uid for b in map(self._base, node.inputs) if b.op not in SCALAR_OPS}

    def _place_alone(self, node: Node) -> None:
        del self.waiting[node.uid]
        self._new_kernel(node, "reads only stored inputs and no kernel over the same "
                               "domain could take it")

    def _settle(self, waiting: list[Node], consumer: Node) -> None:
        """Place the waiting inputs of ``consumer``, just placed: in its kernel where
        they can be computed at every index it reads them, else in kernels of their own
        that its kernel then reads."""
        st = self.kernel_of.get(consumer.uid)
        for w in waiting:
            del self.waiting[w.uid]
            reads = set(st.reads) if st is not None else None
            if st is not None and self._try_join(st, w):
                at = self._index_for(st, consumer, st.level[consumer.uid])
                if all(self._readable(st, i, index) for i, index in
                       self._input_indices(consumer, at) if self._base(i) is w):
                    self._move_before(st, w, consumer)
                    continue
                self._remove_last(st, w)
                st.reads = reads
            self._new_kernel(w, "reads only stored inputs and its consumer's kernel "
                                "cannot compute it where it is read")
            if st is not None:
                st.deps.add(self.kernel_of[w.uid].index)

    @staticmethod
    def _input_indices(node: Node, index: tuple[Ix, ...]) -> list[tuple[Node, tuple[Ix, ...]]]:
        """``node``'s inputs, each with the index it is read at when ``node`` is computed
        at ``index`` (the same index, except through a movement's index map)."""
        if _kind(node) != "movement":
            return [(inp, index) for inp in node.inputs]
        op = get_op(node.op)
        return [(inp, op.index_map(inp.type, node.type, node.attrs, index, _size_placeholder))
                for inp in node.inputs]

    def _move_before(self, st: _KernelState, node: Node, consumer: Node) -> None:
        """List ``node`` before ``consumer`` among ``st``'s members (program order, which
        names the kernel and orders its ops in explain and the visualisation)."""
        members = st.kernel.members
        members.remove(node)
        members.insert(members.index(consumer), node)
        if members[0] is node:
            st.kernel.name = f"k{st.index}_{node.op}"

    def _remove_last(self, st: _KernelState, node: Node) -> None:
        """Undo the :meth:`_add` of ``node``, the last member added to ``st``."""
        assert st.kernel.members[-1] is node
        st.kernel.members.pop()
        st.ops -= _kind(node) != "movement"
        del st.level[node.uid], st.pure[node.uid], self.kernel_of[node.uid]

    def _reason(self, node: Node, producers: list[int]) -> str:
        if not producers:
            return "reads only stored inputs and no kernel over the same domain could take it"
        k = self.states[producers[0]].kernel
        if _kind(node) == "reduce":
            return (f"reduction of shape {node.inputs[0].type.shape} over {node.attrs['axes']} "
                    f"cannot join {k.name} (domain {k.domain}, reduces {k.reduce_axes})")
        return (f"shape {node.type.shape} does not match {k.name} (domain {k.domain}) or it "
                "reads a value at another element than the one being computed")

    def _finish(self) -> None:
        outputs = {o.uid for o in self.graph.outputs}
        consumers = self.graph.consumers()
        for st in self.states:
            k = st.kernel
            members = {m.uid for m in k.members}
            seen_inputs: set[int] = set()
            for m in k.members:
                users = consumers.get(m.uid, [])
                if m.uid in outputs or any(u.uid not in members for u in users):
                    k.outputs.append(m)
                for i in m.inputs:
                    base = i if k.kind == "library" else self._base(i)
                    if base.uid not in members and base.uid not in seen_inputs:
                        seen_inputs.add(base.uid)
                        k.inputs.append(base)

    def _schedule(self) -> list[_KernelState]:
        """Kernels in an order where each runs after the kernels it reads."""
        done: set[int] = set()
        order: list[_KernelState] = []
        for st in self.states:
            stack = [(st, False)]
            while stack:
                cur, expanded = stack.pop()
                if cur.index in done:
                    continue
                if expanded:
                    done.add(cur.index)
                    order.append(cur)
                    continue
                stack.append((cur, True))
                stack.extend((self.states[d], False) for d in cur.deps if d not in done)
        return order


def _kind(node: Node) -> str:
    """The fusion kind of ``node``'s op (``"leaf"`` for leaves, which have no OpDef)."""
    op = OPS.get(node.op)
    return "leaf" if op is None else op.kind


@graph_pass("fuse")
def fuse(graph: Graph) -> FusedGraph:
    """Partition ``graph`` into kernels (see the module docstring for the rules).

    >>> import graphc, graphc.functional as F
    >>> x = graphc.tensor([[1., 2.], [3., 4.]])
    >>> fused = fuse(Graph((F.softmax(x, axis=1)._node,)))
    >>> [k.kind for k in fused.kernels]
    ['loop']
    """
    return _Fuser(graph).run()
