"""The CUDA schedule: how a kernel IR runs on a GPU, decided before any text is written.

The second schedule over the backend-neutral kernel IR (graphc/ir/kernel_ir.py); the
CPU's is graphc/codegen/cpu_schedule.py. A :class:`CudaSchedule` annotates one
:class:`~graphc.ir.kernel_ir.KernelIR` with one of two forms:

- ``threads``: one thread per kept point (every point of the domain when nothing is
  reduced), in a grid-stride loop over the kept points' flat index. Reductions over
  the other axes run serially inside the thread, in index order: column reductions
  (``x.sum(0)`` of an (N, C) array, the bias gradient) are coalesced (neighbouring
  threads read neighbouring columns) and in a fixed order.
- ``blocks``: one block per row (a point of the kept axes), in a grid-stride loop over
  rows by block. The block's threads stride over the row's reduced points, each
  accumulating a partial in a fixed order, and the partials combine in a shared-memory
  tree (one ``cuda.shared.array`` per reduction, ``threads`` a power of two); the
  per-point outputs (softmax's ``exp(x - max) / sum``) are then written by the same
  threads. Kernels whose last loop axis is reduced (softmax, layer norm,
  cross-entropy rows, BatchNorm statistics) take this form; so do whole reductions
  (nothing kept), as one block: their order is fixed, with no atomics and no second
  launch.

So a reduction's result depends only on the inputs and the launch shape the schedule
fixes (``threads``, a constant of the source): the same inputs give the same bits.

Index math: a ``threads`` kernel over fewer than 2**31 points computes its flat index
and its division into axis indices in 32-bit unsigned integers (``index_bits``: one of
two variants, as the CPU's small/large); past that, in int64. ``flat``: a map kernel
whose every array is read and written at the full domain index, all of the domain's
shape, takes its arrays as 1-D (the launcher passes contiguous arrays reshaped), so the
domain's dimensions collapse into one and no index is divided at all.

``launch`` overrides the launch shape: the simulator (``NUMBA_ENABLE_CUDASIM=1``) costs
about 0.5 ms per simulated thread, so tests run at most 2 blocks of 64 threads
(:data:`SIMULATOR_LAUNCH`); grid-stride loops make any launch compute every point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir.kernel_ir import Guarded, KernelIR, Load, lit, var
from .cuda_ops import accumulator_dtype

# Threads per block, a power of two (the shared-memory trees halve it).
THREADS = 256
# Blocks of a launch at most: grid-stride loops cover the rest (132 SMs x 16 on an H100
# keeps every SM busy; a larger grid only adds blocks that find no work).
MAX_BLOCKS = 2048
# Flat indices below this use 32-bit unsigned index math (the grid stride then cannot
# wrap: index + stride < 2**32).
INDEX32_LIMIT = 1 << 31


@dataclass(frozen=True)
class Launch:
    """A launch shape: at most ``blocks`` blocks of ``threads`` threads (a power of 2)."""

    blocks: int = MAX_BLOCKS
    threads: int = THREADS

    def __post_init__(self) -> None:
        if self.threads < 1 or self.threads & (self.threads - 1):
            raise ValueError(f"threads per block must be a power of two, got {self.threads}")
        if self.blocks < 1:
            raise ValueError(f"blocks must be positive, got {self.blocks}")


# What the CUDA simulator runs: at most 2 blocks of 64 threads.
SIMULATOR_LAUNCH = Launch(blocks=2, threads=64)


@dataclass(frozen=True)
class CudaSchedule:
    """The CUDA decisions for one kernel IR (see the module doc)."""

    form: str  # "threads" | "blocks"
    threads: int
    max_blocks: int
    index_bits: int  # 32 or 64
    flat: bool = False
    accumulators: tuple[tuple[int, str], ...] = ()

    def accumulator(self, reduction: int) -> str:
        """The dtype reduction ``reduction`` accumulates in."""
        return dict(self.accumulators)[reduction]

    def grid(self, ir: KernelIR, sizes: tuple[int, ...] | list[int]) -> tuple[int, int]:
        """(blocks, threads per block) of a launch over ``sizes`` (the size parameters'
        values): enough blocks for every kept point or row, at most ``max_blocks``."""
        kept = math.prod(sizes[ir.dims[a]] for a in ir.kept_axes)
        if self.form == "blocks":
            return max(1, min(self.max_blocks, kept)), self.threads
        return max(1, min(self.max_blocks, -(-kept // self.threads))), self.threads

    def __str__(self) -> str:
        parts = [f"form {self.form}", f"{self.threads} threads per block",
                 f"at most {self.max_blocks} blocks", f"{self.index_bits}-bit index math"]
        if self.flat:
            parts.append("flat (dimensions collapsed)")
        if self.accumulators:
            parts.append("accumulators " + ", ".join(f"%{r}: {d}" for r, d in self.accumulators))
        return "cuda schedule: " + "; ".join(parts)


def full_index(ir: KernelIR) -> tuple:
    """The domain's full index: ``i<k>`` for an axis of more than one point, else 0."""
    return tuple(lit(0) if d == 1 else var(f"i{k}") for k, d in enumerate(ir.domain))


def flat_arrays(ir: KernelIR, shapes: dict[int, tuple[int, ...]] | None = None) -> bool:
    """Whether ``ir`` may run flat: no reductions, no guarded reads, and every array
    parameter read or written only at the full domain index. ``shapes`` (array
    parameter → its shape, where known) must then equal the domain: an input read at
    the full index may still be larger than the domain (a fused slice from 0)."""
    if ir.reductions or any(isinstance(v, Guarded) for v in ir.values):
        return False
    index = full_index(ir)
    for v in ir.values:
        if isinstance(v, Load) and v.index and v.index != index:
            return False
    if any(s.index != index for s in ir.stores):
        return False
    arrays = {v.param for v in ir.values if isinstance(v, Load) and v.index}
    arrays |= {s.param for s in ir.stores}
    for p in arrays:
        if ir.params[p].ndim != len(ir.domain):
            return False
        node = ir.params[p].node
        shape = (shapes or {}).get(p, getattr(getattr(node, "type", None), "shape", None))
        if shape is None or tuple(shape) != tuple(ir.domain):
            return False
    return bool(index)


def schedule_cuda(ir: KernelIR, launch: Launch | None = None,
                  shapes: dict[int, tuple[int, ...]] | None = None,
                  flat: bool = True) -> CudaSchedule:
    """Decide how ``ir`` runs on a GPU. ``launch`` caps the launch shape (the simulator's
    :data:`SIMULATOR_LAUNCH`); ``shapes``: array parameters' shapes where the IR's
    parameters carry no graph node (see :func:`flat_arrays`); ``flat=False`` keeps the
    dimensions (for arrays that may not be C-contiguous: strided views)."""
    launch = launch or Launch()
    loops, kept = ir.loop_axes, ir.kept_axes
    accumulators = tuple((r, accumulator_dtype(ir.values[r])) for r in ir.reductions)
    blocks = bool(ir.reductions) and (not kept or loops[-1] not in kept)
    points = math.prod(ir.domain)
    bits = 32 if points < INDEX32_LIMIT and all(s < INDEX32_LIMIT for s in ir.sizes) else 64
    return CudaSchedule("blocks" if blocks else "threads", launch.threads,
                        launch.blocks, bits, flat=flat and flat_arrays(ir, shapes),
                        accumulators=accumulators)
