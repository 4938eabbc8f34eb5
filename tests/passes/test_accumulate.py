"""matmul_accumulate: an update that reads a product once becomes one BLAS gemm that
accumulates into its result; values match the reference within rounding, compiled and
interpreted; products with other readers, broadcast terms and ``product - c`` stay."""

import numpy as np
import pytest
from graphc.kernels.cpu import blas

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.backends.cpu import cpu_capabilities
from graphc.ir import Graph, buffer_node
from graphc.ir.target import NO_CAPABILITIES, Capabilities
from graphc.ops import apply
from graphc.optimizer import SGD, Adam
from graphc.passes import PIPELINE, run_pipeline
from graphc.passes.accumulate import matmul_accumulate
from graphc.passes.verify import verify
from tests.jit.training import training_step
from tests.passes.graph_values import assert_same_values

DEV = "xpux"
rng = np.random.default_rng(0)
CPU = cpu_capabilities()
pytestmark = pytest.mark.skipif(not CPU.accumulates_gemm(np.float32),
                                reason="NumPy's BLAS exposes no cblas gemm on this machine")


def accumulate(graph: Graph, capabilities: Capabilities = CPU) -> Graph:
    """The pass, targeting the CPU backend's capabilities unless told otherwise."""
    return matmul_accumulate(graph, capabilities)


def buf(*shape, dtype=np.float32):
    return buffer_node(rng.standard_normal(shape).astype(dtype), DEV)


def scalar(value, dtype=np.float32):
    return buffer_node(np.asarray(value, dtype), DEV)


def spread(s, shape):
    return apply("broadcast_to", [s], shape=shape)


def weight_gradient(g, x):
    return apply("matmul", [apply("transpose", [g], perm=(1, 0)), x])  # gᵀ·x


def only(graph: Graph, op: str):
    (node,) = [n for n in graph.pending() if n.op == op]
    return node


def test_sgd_update_becomes_one_accumulating_product():
    w, g, x, lr = buf(3, 5), buf(8, 3), buf(8, 5), scalar(0.1)
    before = Graph((apply("sub", [w, apply("mul", [spread(lr, (3, 5)), weight_gradient(g, x)])]),))
    after = run_pipeline(accumulate(before), ("dce",))
    verify(after)
    node = after.outputs[0]
    assert node.op == "matmul_add" and node.inputs[0] is w and node.inputs[3] is lr
    assert dict(node.attrs) == {"scale_product": True, "scale_c": False, "subtract": True}
    assert [n.op for n in after.pending()] == ["transpose", "matmul_add"]
    assert_same_values(before, after, rtol=1e-5)


@pytest.mark.parametrize("form", ["momentum", "scale_right", "plain_add", "plain_sub"])
def test_the_other_update_forms(form):
    c, a, b, s = buf(4, 6), buf(4, 7), buf(7, 6), scalar(0.9)
    product = apply("matmul", [a, b])
    out = {"momentum": lambda: apply("add", [apply("mul", [spread(s, (4, 6)), c]), product]),
           "scale_right": lambda: apply("add", [apply("mul", [product, spread(s, (4, 6))]), c]),
           "plain_add": lambda: apply("add", [product, c]),
           "plain_sub": lambda: apply("sub", [c, product])}[form]()
    before = Graph((out,))
    after = accumulate(before)
    assert after.outputs[0].op == "matmul_add"
    assert_same_values(before, after, rtol=1e-5)


def test_products_read_twice_broadcast_terms_sums_inside_and_product_minus_c_stay():
    c, a, b = buf(4, 6), buf(4, 7), buf(7, 6)
    product = apply("matmul", [a, b])
    cases = [
        Graph((apply("add", [c, product]), apply("exp", [product]))),  # another reader
        Graph((apply("add", [c, product]), product)),  # the product is an output too
        Graph((apply("add", [spread(buf(6), (4, 6)), product]),)),  # a bias: fuses anyway
        Graph((apply("sub", [product, c]),)),  # would need -c
        Graph((apply("add", [c, apply("mul", [buf(4, 6), product])]),)),  # not a scalar
        Graph((apply("relu", [apply("add", [c, product])]),)),  # inside: fuses with relu
    ]
    for graph in cases:
        assert "matmul_add" not in [n.op for n in accumulate(graph).pending()]


def test_float64_and_batched_products():
    w, g, x = buf(3, 5, dtype=np.float64), buf(8, 3, dtype=np.float64), buf(8, 5, dtype=np.float64)
    before = Graph((apply("sub", [w, weight_gradient(g, x)]),))
    after = accumulate(before)
    assert after.outputs[0].op == "matmul_add"
    assert_same_values(before, after, rtol=1e-12)
    batched = Graph((apply("add", [buf(2, 4, 6), apply("matmul", [buf(2, 4, 7), buf(2, 7, 6)])]),))
    assert accumulate(batched).outputs == batched.outputs  # BLAS gemm is 2-D


def test_compiled_matmul_add_equals_the_interpreter(monkeypatch):
    def run(backend):
        monkeypatch.setenv("GRAPHC_BACKEND", backend)
        r = np.random.default_rng(3)
        w = graphc.tensor(r.standard_normal((6, 5)).astype(np.float32))
        g = graphc.tensor(r.standard_normal((9, 6)).astype(np.float32))
        x = graphc.tensor(r.standard_normal((9, 5)).astype(np.float32))
        m = graphc.tensor(r.standard_normal((6, 5)).astype(np.float32))
        lr, mu = graphc.tensor(np.float32(0.05)), graphc.tensor(np.float32(0.9))
        buf = mu * m + g.T @ x
        return [t.numpy() for t in (w - lr * (g.T @ x), buf, w - lr * buf)]

    for got, want in zip(run("compiled"), run("interp")):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _mlp_step(opt_class, **opt_args):
    graphc.random.seed(0)
    net = M.Sequential(M.Linear(5, 4), M.ReLU(), M.Linear(4, 3))
    return net, graphc.jit(training_step(net, opt_class(net.parameters(), **opt_args),
                                         F.cross_entropy))


# Adam reads each weight gradient twice (both moments), so its products stay plain.
@pytest.mark.parametrize("opt_class,opt_args,gemm", [(SGD, {"lr": 0.1}, True),
                                                     (SGD, {"lr": 0.1, "momentum": 0.9}, True),
                                                     (Adam, {"lr": 0.01}, False)])
def test_jitted_training_uses_gemm_updates_and_matches_the_interpreter(monkeypatch, opt_class,
                                                                      opt_args, gemm):
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.integers(0, 3, 8).astype(np.int32)
    results = {}
    for backend in ("interp", "compiled"):
        monkeypatch.setenv("GRAPHC_BACKEND", backend)
        net, step = _mlp_step(opt_class, **opt_args)
        losses = [step(x, y).item() for _ in range(4)]
        results[backend] = losses, [p.numpy() for p in net.parameters()]
        if backend == "compiled":
            assert ("matmul_add" in str(step.explain())) == gemm
    np.testing.assert_allclose(results["compiled"][0], results["interp"][0], rtol=1e-5)
    for got, want in zip(results["compiled"][1], results["interp"][1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_the_pass_runs_after_autodiff_in_the_pipeline():
    assert PIPELINE.index("matmul_accumulate") > PIPELINE.index("matmul_layout")
    assert PIPELINE.index("matmul_accumulate") < PIPELINE.index("dce")


def test_without_a_blas_gemm_the_graph_is_left_as_it_is(monkeypatch):
    monkeypatch.setattr(blas, "available", lambda dtype: False)
    assert cpu_capabilities() == NO_CAPABILITIES  # the CPU's answer without a gemm
    w, g, x, lr = buf(3, 5), buf(8, 3), buf(8, 5), scalar(0.1)
    before = Graph((apply("sub", [w, apply("mul", [spread(lr, (3, 5)), weight_gradient(g, x)])]),))
    after = accumulate(before, NO_CAPABILITIES)
    assert "matmul_add" not in [n.op for n in after.pending()]
    assert_same_values(before, after)
