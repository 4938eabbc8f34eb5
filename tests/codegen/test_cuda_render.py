"""The CUDA schedule and renderer (graphc/codegen/cuda*.py) over the kernel IR the CPU
renders: which form each kernel takes, what the printed source looks like, and, where
numba-cuda and NVVM are installed (the ``cuda`` extra), that every kernel compiles to
PTX for compute capability 9.0 with a PTX ISA the GPU machines' driver loads. Running
the kernels is tests/codegen/test_cuda_sim.py (the simulator, its own process)."""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
import pytest

from graphc.codegen import cpu_ops, cuda_ops
from graphc.codegen.cuda import CudaKernelSource, print_cuda_kernel, render_ir
from graphc.codegen.cuda_ptx import (
    MAX_PTX_VERSION,
    PTXVersionError,
    compile_ptx_for,
    kernel_arguments,
    ptx_version,
)
from graphc.codegen.cuda_schedule import SIMULATOR_LAUNCH, Launch, schedule_cuda
from graphc.ir.kernel_ir import Load
from tests.codegen.cuda_graphs import CASES, loop_irs, nodes
from tests.codegen.ptx_probe import ptx_unavailable


@functools.cache
def irs(case: str):
    return loop_irs(nodes(case))


def forms(case: str) -> list[str]:
    return [schedule_cuda(ir).form for ir in irs(case)]


def test_the_cuda_table_covers_every_scalar_op_of_the_cpu_table():
    assert set(cpu_ops.SCALAR_OPS) == set(cuda_ops.SCALAR_OPS)


def test_a_scalar_op_the_table_lacks_fails_at_render_time_naming_it():
    with pytest.raises(NotImplementedError, match="'frobnicate'"):
        cuda_ops.scalar_op_text("frobnicate", ["x"], "float32", ())


def test_float32_math_stays_float32_and_helpers_get_typed_constants():
    assert cuda_ops.scalar_op_text("exp", ["x"], "float32", ()) == "math.exp(x)"
    assert cuda_ops.scalar_op_text("exp", ["x"], "int32", ()) == "math.exp(float64(x))"
    assert cuda_ops.scalar_op_text("relu", ["x"], "float32", ()) == "relu(x, float32(0))"
    assert cuda_ops.scalar_op_text("floor_div", ["a", "b"], "int32", ()) == \
        "floor_div_i(a, b, int32(0))"
    assert cuda_ops.scalar_op_text("cast", ["x"], "float32", (("dtype", "bool"),)) == \
        "bool_(x)"


@pytest.mark.parametrize("case, expected", [
    ("elementwise_chain", ["threads"]),
    ("softmax_rows", ["blocks"]),
    ("column_sums", ["threads"]),
    ("whole_sums", ["blocks"]),
    ("batchnorm_stats", ["blocks"]),
])
def test_each_kernel_takes_the_form_its_reductions_call_for(case, expected):
    assert forms(case) == expected


def test_row_reductions_run_one_block_per_row_with_a_shared_memory_tree():
    (ir,) = irs("softmax_rows")
    ks = render_ir(ir)
    src = ks.source
    shared = [line for line in src.splitlines() if "cuda.shared.array" in line]
    assert len(shared) == 2  # max and sum, one array per line (the simulator aliases two)
    assert all(line.count("cuda.shared.array") == 1 for line in shared)
    assert "cuda.syncthreads()" in src and "atomic" not in src
    assert ks.grid() == (6, 256)  # one block per row
    compile(src, "<softmax>", "exec")


def test_whole_reductions_run_in_one_block_in_a_fixed_order():
    (ir,) = irs("whole_sums")
    ks = render_ir(ir)
    assert ks.grid() == (1, 256)
    assert "atomic" not in ks.source


def test_sizes_are_scalar_parameters_not_a_host_array():
    (ir,) = irs("column_sums")
    ks = render_ir(ir)
    header = next(line for line in ks.source.splitlines() if line.startswith("def kernel("))
    assert header.endswith(", ".join(f"n{k}" for k in range(len(ir.sizes))) + "):")
    assert "sh[" not in ks.source
    args = kernel_arguments(ks, [np.zeros(p.node.type.shape, p.dtype) for p in ks.params])
    assert list(args[len(ks.params):]) == list(ir.sizes)


def test_a_same_shape_map_runs_flat_and_a_broadcast_one_does_not():
    same = render_ir(irs("multi_output")[0])
    arrays = [lay for p, lay in zip(same.params, same.layouts) if p.kind != "scalar"]
    assert same.schedule.flat and set(arrays) == {"flat"}
    assert "[t]" in same.source and " % " not in same.source  # no index is divided
    (chain,) = irs("elementwise_chain")  # reads a broadcast bias
    assert not schedule_cuda(chain).flat
    assert any(isinstance(v, Load) and len(v.index) == 1 for v in chain.values)


def test_index_math_is_32_bit_unless_the_domain_needs_64():
    (ir,) = irs("softmax_rows")
    assert schedule_cuda(ir).index_bits == 32
    assert "uint32(" in render_ir(ir).source
    big = dataclasses.replace(ir, domain=(1 << 16, 1 << 16),
                              sizes=tuple(1 << 16 for _ in ir.sizes))
    assert schedule_cuda(big).index_bits == 64
    assert "uint32(" not in render_ir(big).source


def test_the_launch_override_caps_blocks_and_threads():
    for case in CASES:
        for ir in irs(case):
            ks = render_ir(ir, SIMULATOR_LAUNCH)
            blocks, threads = ks.grid()
            assert blocks <= 2 and threads <= 64, case
            assert "cuda.shared.array(256" not in ks.source
    with pytest.raises(ValueError, match="power of two"):
        Launch(threads=48)


def test_ptx_version_reads_the_directive():
    assert ptx_version("//\n.version 9.0\n.target sm_90\n") == (9, 0)
    assert ptx_version(".version 8.7\n") < MAX_PTX_VERSION


# ---- compile-only: PTX for compute capability 9.0 ------------------------------------

@pytest.fixture(scope="module")
def nvvm():
    reason = ptx_unavailable()
    if reason:
        pytest.skip(reason)


def wide(ir) -> CudaKernelSource:
    """``ir`` rendered with 64-bit index math (domains past 2**31 points)."""
    ks = render_ir(ir)
    schedule = dataclasses.replace(ks.schedule, index_bits=64)
    source, layouts = print_cuda_kernel(ir, schedule)
    return CudaKernelSource(None, source, ks.params, ks.sizes, layouts, ir, schedule)


def test_every_kernel_of_the_cases_compiles_to_ptx_9_0_for_cc_9_0(nvvm):
    seen: dict[str, tuple] = {}
    t0 = time.perf_counter()
    for case in CASES:
        for ir in irs(case):
            for ks in (render_ir(ir), render_ir(ir, SIMULATOR_LAUNCH), wide(ir)):
                if ks.source in seen:
                    continue
                compiled = compile_ptx_for(ks, cc=(9, 0))
                assert compiled.version <= MAX_PTX_VERSION
                assert ".target sm_90" in compiled.ptx
                assert ".entry" in compiled.ptx
                seen[ks.source] = compiled.version
    seconds = time.perf_counter() - t0
    print(f"{len(seen)} distinct CUDA kernels compiled to PTX "
          f"{sorted(set(seen.values()))} in {seconds:.1f} s")
    assert seconds < 180


def test_32_bit_index_math_divides_in_32_bits(nvvm):
    (ir,) = irs("batchnorm_stats")  # three reduced axes: two divisions per point
    ptx = compile_ptx_for(render_ir(ir)).ptx
    assert "div.u32" in ptx or "rem.u32" in ptx


def test_a_newer_ptx_than_the_driver_loads_is_refused(nvvm):
    (ir,) = irs("softmax_rows")
    with pytest.raises(PTXVersionError, match="newer than"):
        compile_ptx_for(ir, max_version=(1, 0))


def test_a_pending_graph_compiles_to_ptx_without_running(nvvm):
    from graphc.runtime.cuda_compile import compile_ptx

    compiled = compile_ptx(nodes("cross_entropy_rows"), cc=(9, 0))
    assert compiled and all(c.version <= MAX_PTX_VERSION for c in compiled)
    assert {c.source.schedule.form for c in compiled} == {"blocks"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_never_contract_into_fma(nvvm, dtype):
    import graphc as gc

    x, y, z = (gc.tensor(np.ones((4, 5)), dtype=dtype) for _ in range(3))
    (ir,) = loop_irs([(x * y + z)._node, (x * y - z * z)._node])
    assert {p.dtype for p in ir.params} == {np.dtype(dtype).name}
    source = render_ir(ir).source
    assert ("mul_f32(" if dtype == np.float32 else "mul_f64(") in source
    ptx = compile_ptx_for(ir).ptx
    assert "fma" not in ptx and "mul.rn" in ptx


def _mlp_step_outputs():
    """The new parameters and momentum of an MLP's SGD step, as a pending graph (the
    graph the GPU runtime compiles for a training step; nothing runs)."""
    import graphc as gc
    import graphc.functional as F
    import graphc.module as M

    rng = np.random.default_rng(0)
    model = M.Sequential(M.Linear(16, 12), M.ReLU(), M.Linear(12, 10))
    x = gc.tensor(rng.standard_normal((8, 16)).astype(np.float32))
    y = gc.tensor(rng.integers(0, 10, 8).astype(np.int32))
    params = list(model.parameters())
    loss = F.nn.cross_entropy(model(x), y)
    grads = gc.grad(loss, params)
    momenta = [gc.tensor(np.zeros(p.shape, np.float32)) for p in params]
    new_momenta = [m * 0.9 + g for m, g in zip(momenta, grads)]
    return [(p - 0.1 * m)._node for p, m in zip(params, new_momenta)] + \
        [m._node for m in new_momenta] + [loss._node]


def test_a_training_steps_kernels_and_their_variants_compile_to_ptx(nvvm):
    """Every kernel the GPU runtime makes of an MLP step: each loop kernel, its strided
    twin, its in-place variants, the bounds check and the tiled matmul."""
    from graphc.codegen.cuda import in_place_variant, may_overwrite, strided_variant
    from graphc.runtime.cuda_compile import cuda_kernels

    sources = {}
    for ks in cuda_kernels(_mlp_step_outputs()):
        variants = [ks, strided_variant(ks)]
        ins = [n for n, p in enumerate(ks.params) if p.kind == "in"]
        outs = [n for n, p in enumerate(ks.params) if p.kind == "out"]
        pairs = [(i, o) for i in ins for o in outs if may_overwrite(ks, i, o)]
        if pairs:
            variants.append(in_place_variant(ks, pairs[:1]))
        for v in variants:
            sources.setdefault(v.source, v)
    assert any("in place" in s or len(v.params) < len(v.ir.params)
               for s, v in sources.items()), "no in-place variant: the update kernels?"
    for ks in sources.values():
        assert compile_ptx_for(ks, cc=(9, 0)).version <= MAX_PTX_VERSION

    from graphc.kernels.cuda import check_index
    from numba import cuda, types

    signature = types.void(types.int32[::1], types.int64, types.int32[::1],
                           types.int64[::1])
    ptx, _ = cuda.compile_ptx(check_index._kernel().py_func, signature, cc=(9, 0))
    assert ptx_version(ptx) <= MAX_PTX_VERSION
