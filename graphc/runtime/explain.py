"""``graphc.explain``: what the compiler would do with some tensors, without running it.

For each loop kernel it shows the three layers of code generation: the kernel IR (what
the kernel computes: graphc/ir/kernel_ir.py), the CPU schedule (how it runs:
graphc/codegen/cpu_schedule.py) and the source the CPU renderer printed from them."""

from __future__ import annotations

from dataclasses import dataclass

from ..backends import Backend
from ..codegen.cpu import KernelSource
from ..ir import Kernel
from .compiler import compile_outputs, target_backend


@dataclass
class KernelInfo:
    """One kernel of a compiled Program."""

    name: str
    kind: str  # "loop" (generated) or "library" (a NumPy/BLAS call)
    ops: list[str]
    source: str
    boundary: str  # why this kernel is separate from the ones before it
    inputs: list[tuple]
    outputs: list[tuple]
    ir: str = ""  # the kernel IR as text (loop kernels): what the kernel computes
    schedule: str = ""  # the CPU schedule's decisions: how it runs

    def __str__(self) -> str:
        head = (f"== {self.name} [{self.kind}] {len(self.ops)} op(s): {' '.join(self.ops)}\n"
                f"   reads {self.inputs} -> writes {self.outputs}\n"
                f"   boundary: {self.boundary}\n")
        parts = [head.rstrip("\n")]
        if self.ir:
            parts += ["   " + line for line in self.ir.splitlines()]
            parts.append("   " + self.schedule)
        parts += ["   | " + line for line in self.source.splitlines()]
        return "\n".join(parts)


@dataclass
class Explanation:
    """The kernels of the Program that realizing the tensors compiles to."""

    kernels: list[KernelInfo]
    compile_seconds: float
    planned_bytes: int
    # Tensors given that were already realized: nothing is left to compile for them. An
    # expression built again is the same node as its earlier twin (hash-consing), so
    # explaining ``F.softmax(x)`` after printing ``F.softmax(x)`` finds it realized.
    realized: int = 0

    def __str__(self) -> str:
        parts = [f"{len(self.kernels)} kernel(s), {self.planned_bytes} bytes of planned "
                 f"intermediate buffers, compiled in {self.compile_seconds * 1e3:.1f} ms"]
        if self.realized:
            parts.append(f"{self.realized} tensor(s) already realized: their values exist, "
                         "nothing is compiled for them (an identical expression built "
                         "earlier shares its node and result)")
        parts += [str(k) for k in self.kernels]
        return "\n".join(parts)

    __repr__ = __str__


def _describe(item: KernelSource | Kernel, backend: Backend) -> KernelInfo:
    kernel = item.kernel if isinstance(item, KernelSource) else item
    ir = schedule = ""
    if isinstance(item, KernelSource):
        source, ir, schedule = item.source, str(item.ir), str(item.schedule)
    else:
        (node,) = kernel.members
        library = backend.library_kernel(node.op)
        if library.into is not None:
            source = (f"{library.describe}(*inputs, out)  # {node.op}, into the Program's "
                      "buffer")
        else:
            source = library.describe
    return KernelInfo(kernel.name, kernel.kind, kernel.ops, source, kernel.boundary or "first",
                      [(i.type.shape, i.type.dtype.name) for i in kernel.inputs],
                      [(o.type.shape, o.type.dtype.name) for o in kernel.outputs], ir, schedule)


def explain(*tensors) -> Explanation:
    """Compile the pending graph of ``tensors`` without running it and describe it.

    >>> import graphc, graphc.functional as F
    >>> x = graphc.tensor([[1., 2.], [3., 4.]])
    >>> e = graphc.explain(F.softmax(x, axis=1))
    >>> len(e.kernels), e.kernels[0].ops[:2]
    (1, ['max', 'broadcast_to'])
    """
    nodes = [t._node for t in tensors if t._node.buffer is None]
    realized = len(tensors) - len(nodes)
    if not nodes:
        return Explanation([], 0.0, 0, realized)
    backend = target_backend(nodes)
    compiled = compile_outputs(nodes, target=backend)
    return Explanation([_describe(k, backend) for k in compiled.kernels],
                       compiled.compile_seconds,
                       compiled.plan.planned_bytes, realized)
