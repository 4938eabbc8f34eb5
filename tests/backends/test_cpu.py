"""The CPU backend: its library table covers every opaque op that reaches the linker,
a missing kernel is a compile-time error, and the Program cache keys on the backend."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.backends import Backend, NoImplementation, backend_for
from graphc.backends.cpu import cpu_backend, cpu_capabilities, library_table
from graphc.ir import buffer_node
from graphc.ir.target import NO_CAPABILITIES, Capabilities
from graphc.ops import OPS, apply
from graphc.runtime import compiler
from graphc.runtime.compiler import _runtime_value, compile_outputs, lookup_or_compile

DEV = "cpux"
rng = np.random.default_rng(0)


def sgd_update():
    """``w - lr·(gᵀ·x)`` as IR nodes, and its value computed by NumPy."""
    w, g, x = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5), (8, 3), (8, 5)))
    lr = np.array(0.1, np.float32)
    nodes = [buffer_node(a, DEV) for a in (w, g, x)]
    product = apply("matmul", [apply("transpose", [nodes[1]], perm=(1, 0)), nodes[2]])
    scaled = apply("mul", [apply("broadcast_to", [buffer_node(lr, DEV)], shape=(3, 5)),
                           product])
    return apply("sub", [nodes[0], scaled]), w - lr * (g.T @ x)


def run(compiled, args):
    return compiled.program.run([_runtime_value(a) for a in args])


def test_every_primitive_opaque_op_has_a_cpu_kernel():
    """Composite ops and markers are lowered, autodiff wrappers erased, before linking."""
    table = library_table()
    primitive = {name for name, op in OPS.items() if op.kind == "opaque"
                 and not (op.composite or op.marker or op.autodiff_wrapper)}
    assert sorted(primitive - set(table)) == []
    assert sorted(set(table) - primitive) == []  # and nothing else


def test_an_op_missing_from_the_table_is_an_error_at_compile_time():
    table = library_table()
    del table["matmul"]
    partial = Backend("cpu-without-matmul", table, cpu_capabilities())
    a = buffer_node(np.ones((2, 3), np.float32), DEV)
    b = buffer_node(np.ones((3, 4), np.float32), DEV)
    with pytest.raises(NoImplementation, match="matmul has no implementation on the "
                                               "cpu-without-matmul backend"):
        compile_outputs([apply("matmul", [a, b])], target=partial)


def test_gpu_devices_name_why_no_gpu_is_usable(monkeypatch):
    import graphc.backends as backends
    from graphc.backends.cuda_device import GpuStatus

    monkeypatch.setattr(backends, "gpu_status", lambda: GpuStatus(False, "no driver here"))
    with pytest.raises(NoImplementation, match="no usable GPU: no driver here"):
        backend_for("gpu0")
    assert backend_for("xpux") is backend_for("cpu1") is cpu_backend()


def test_capabilities_decide_the_rewrite_and_key_the_program_cache():
    if not cpu_capabilities().accumulates_gemm(np.float32):
        pytest.skip("NumPy's BLAS exposes no cblas gemm on this machine")
    no_gemm = Backend("cpu", library_table(), NO_CAPABILITIES)
    assert no_gemm.name == cpu_backend().name
    assert no_gemm.cache_tag != cpu_backend().cache_tag
    out, want = sgd_update()
    compiled_before = compiler.stats["programs_compiled"]
    results = {}
    for backend in (cpu_backend(), no_gemm, cpu_backend()):
        compiled, args = lookup_or_compile([out], target=backend)
        (results[backend.cache_tag],) = run(compiled, args)
        ops = " ".join(str(k) for k in compiled.program.kernels)
        assert ("matmul_add" in ops) == (backend is cpu_backend()), ops
    # Two Programs, one per backend fingerprint: the third lookup was a hit.
    assert compiler.stats["programs_compiled"] - compiled_before == 2
    for got in results.values():
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_fingerprint_follows_the_table_and_the_capabilities():
    base = Backend("cpu", library_table(), Capabilities())
    assert base.fingerprint == Backend("cpu", library_table(), Capabilities()).fingerprint
    other = Capabilities(gemm_accumulate_dtypes=frozenset({"float64"}))
    assert Backend("cpu", library_table(), other).fingerprint != base.fingerprint
    table = library_table()
    table.pop("concat")
    assert Backend("cpu", table, Capabilities()).fingerprint != base.fingerprint
    assert Backend("cuda", library_table(), Capabilities()).cache_tag[0] == "cuda"


def test_explain_names_the_backend_kernel():
    x = graphc.tensor(rng.standard_normal((2, 1, 6, 6)).astype(np.float32))
    w = graphc.tensor(rng.standard_normal((3, 1, 3, 3)).astype(np.float32))
    text = str(graphc.explain(graphc.functional.conv2d(x, w)))
    assert "graphc.kernels.cpu.conv_im2col.conv2d_forward(*inputs, out)" in text
    gathered = graphc.tensor(np.arange(6.0, dtype=np.float32))[graphc.tensor([4, 1])]
    assert "index via its NumPy reference (graphc.ops)" in str(graphc.explain(gathered))


def test_library_kernels_match_the_op_references():
    """Each window kernel of the table against the op's NumPy reference."""
    table = library_table()
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    geo = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    pool = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0)}
    cases = [("conv2d", [x, w], geo),
             ("max_pool2d", [x], pool),
             ("avg_pool2d", [x], {**pool, "mode": "average"})]
    for name, inputs, attrs in cases:
        node = apply(name, [buffer_node(a, DEV) for a in inputs], **attrs)
        out = np.empty(node.type.shape, node.type.dtype)
        table[name].into(inputs, node.attrs, out)
        np.testing.assert_allclose(out, OPS[name].reference(inputs, node.attrs),
                                   rtol=1e-5, atol=1e-5)
