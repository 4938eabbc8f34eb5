"""matmul_layout: a single-use transposed product is computed in its reader's layout;
values stay within BLAS rounding of the original; shared products are left alone."""

import numpy as np

import graphc
import graphc.functional as F
from graphc.autodiff import GradManager
from graphc.backends.cpu import cpu_backend
from graphc.ir import Graph, buffer_node, topo_order
from graphc.ops import apply
from graphc.passes import PIPELINE, run_pipeline
from graphc.passes.layout import matmul_layout
from graphc.passes.verify import verify
from tests.passes.graph_values import assert_same_values

DEV = "xpux"
rng = np.random.default_rng(0)


def buf(*shape):
    return buffer_node(rng.standard_normal(shape).astype(np.float32), DEV)


def swap(node):
    n = node.type.ndim
    return apply("transpose", [node], perm=tuple(range(n - 2)) + (n - 1, n - 2))


def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.pending()]


def test_weight_gradient_shape_becomes_one_product_without_transposes():
    x, g = buf(8, 5), buf(8, 3)
    before = Graph((swap(apply("matmul", [swap(x), g])),))  # (xᵀ·g)ᵀ, as autodiff builds
    after = matmul_layout(before)
    verify(after)
    assert after.outputs[0].type == before.outputs[0].type
    assert ops(run_pipeline(after, ("dce",))) == ["transpose", "matmul"]  # gᵀ·x
    assert_same_values(before, after, rtol=1e-5)


def test_batched_products_swap_only_the_last_two_axes():
    a, b = buf(2, 4, 5), buf(2, 5, 3)
    before = Graph((swap(apply("matmul", [a, b])),))
    after = matmul_layout(before)
    out = after.outputs[0]
    assert out.op == "matmul" and out.type.shape == (2, 3, 4)
    assert_same_values(before, after, rtol=1e-5)


def test_products_with_other_readers_and_other_permutations_stay():
    a, b = buf(4, 5), buf(5, 4)
    product = apply("matmul", [a, b])
    shared = Graph((swap(product), apply("exp", [product])))
    assert matmul_layout(shared).outputs == shared.outputs
    batched = apply("matmul", [buf(2, 4, 5), buf(2, 5, 3)])
    other = Graph((apply("transpose", [batched], perm=(1, 0, 2)),))
    assert matmul_layout(other).outputs == other.outputs
    as_output = Graph((product, swap(product)))  # the product itself is also wanted
    assert matmul_layout(as_output).outputs == as_output.outputs


def test_linear_weight_gradient_lands_in_the_weight_layout():
    graphc.random.seed(0)
    w = graphc.Parameter(rng.standard_normal((3, 5)).astype(np.float32))
    x = graphc.tensor(rng.standard_normal((8, 5)).astype(np.float32))
    gm = GradManager().attach([w])
    with gm:
        gm.backward(F.linear(x, w).sum())
    graph = run_pipeline(Graph((w.grad._node,)), capabilities=cpu_backend().capabilities)
    assert "matmul_layout" in PIPELINE
    producer = graph.outputs[0]
    assert producer.op == "matmul" and producer.type.shape == (3, 5)
    assert all(n.op != "transpose" or n.inputs[0].op != "matmul"
               for n in topo_order(graph.outputs))
    np.testing.assert_allclose(w.grad.numpy(), np.ones((8, 3)).T @ x.numpy(), rtol=1e-5)
