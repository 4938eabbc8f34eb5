"""Compile-only CUDA: a pending graph's loop kernels rendered for CUDA and compiled to
PTX, without a GPU, a driver or running anything (issue 17; docs/gpu.md).

The graph goes through the same pipeline as a CPU compile (passes, fusion, scheduling,
lowering to the kernel IR), then each loop kernel through the CUDA schedule and
renderer instead of the CPU's. Opaque ops (matmul, convolutions) have no CUDA library
kernels yet and are left out: only loop kernels are returned.

>>> import numpy as np
>>> from graphc.ir import buffer_node
>>> from graphc.ops import apply
>>> x = buffer_node(np.ones((4, 8), np.float32), "cpux")
>>> (ks,) = cuda_kernels([apply("exp", [x])])
>>> ks.schedule.form, ks.grid()
('threads', (1, 256))
"""

from __future__ import annotations

from collections.abc import Sequence

from ..codegen.cuda import CudaKernelSource, render_cuda_kernel
from ..codegen.cuda_ptx import CompiledPTX, compile_ptx_for
from ..codegen.cuda_schedule import Launch
from ..ir import Graph, Node, structural_key
from ..ir.target import Capabilities
from ..passes import run_pipeline


def cuda_kernels(outputs: Sequence[Node], launch: Launch | None = None
                 ) -> list[CudaKernelSource]:
    """The CUDA source of every loop kernel of the pending graph of ``outputs``, in
    execution order (``launch``: a launch-shape cap, e.g. the simulator's). The passes
    get the conservative capabilities (no BLAS accumulation): the CUDA backend has no
    library table yet."""
    from ..passes.fusion import fuse
    from ..passes.schedule import schedule

    outputs = list(outputs)
    graph = run_pipeline(Graph(tuple(outputs)), capabilities=Capabilities())
    fused = schedule(fuse(graph))
    _, args = structural_key(outputs)
    scalars = {a.uid for a in args if a.op == "scalar"}
    return [render_cuda_kernel(fused, k, scalars, launch) for k in fused.kernels
            if k.kind == "loop"]


def compile_ptx(outputs: Sequence[Node], cc: tuple[int, int] = (9, 0),
                launch: Launch | None = None) -> list[CompiledPTX]:
    """Every loop kernel of the graph of ``outputs`` compiled to PTX for compute
    capability ``cc`` (see ``graphc.codegen.cuda_ptx.compile_ptx_for``: needs numba-cuda and
    NVVM, checks the PTX ISA version against the driver's)."""
    return [compile_ptx_for(ks, cc) for ks in cuda_kernels(outputs, launch)]
