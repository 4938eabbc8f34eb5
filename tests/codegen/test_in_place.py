"""In-place kernel variants (graphc/codegen/in_place.py): an output merged into the input
it is computed from, only where every element is read before it is written."""

import numpy as np
import pytest

from graphc.codegen import in_place
from graphc.codegen.cache import load_kernel
from graphc.codegen.cpu import KernelSource, Param
from graphc.ir import buffer_node, structural_key
from graphc.ops import apply
from graphc.runtime.compiler import compile_outputs

rng = np.random.default_rng(0)


def buffer(*shape):
    return buffer_node(rng.standard_normal(shape).astype(np.float32), "cpux")


def loop_kernels(outputs):
    _, args = structural_key(outputs)
    compiled = compile_outputs(outputs, args)
    return [k for k in compiled.kernels if isinstance(k, KernelSource)], compiled, args


def pairs_of(ks):
    """Every (input, output) parameter pair of the same type."""
    return [(i, o) for i, p in enumerate(ks.params) for o, q in enumerate(ks.params)
            if p.kind == "in" and q.kind == "out" and p.node.type == q.node.type]


def test_an_update_writes_over_its_input_and_computes_the_same():
    w, g = buffer(6, 5), buffer(6, 5)
    update = apply("sub", [w, apply("mul", [g, apply("exp", [g])])])
    (ks,), _, _ = loop_kernels([update])
    safe = in_place.in_place_pairs(ks, pairs_of(ks))  # w and g: each read only where
    assert sorted(ks.params[i].node.uid for i, _ in safe) == sorted([w.uid, g.uid])  # written
    pairs = [(i, o) for i, o in safe if ks.params[i].node is w]
    source = in_place.in_place_source(ks, pairs)
    (i, o), = pairs
    assert f"out{o}" not in source.split("def kernel(")[1] and f"in{i}[i0, i1] = " in source
    assert source.count("def kernel(") == 1 and f"in{i} is also out{o}" in source
    args = [p.node.buffer.copy() for p in ks.params if p.kind == "in"]
    sizes = np.array(ks.sizes, np.int64)
    variant = load_kernel(source)
    target = args[[p.node for p in ks.params if p.kind == "in"].index(w)]
    variant(*args, sizes)
    np.testing.assert_allclose(target, w.buffer - g.buffer * np.exp(g.buffer), rtol=1e-6)


def test_an_input_read_at_another_element_is_not_written_over():
    w = buffer(5, 5)
    (ks,), _, _ = loop_kernels([apply("sub", [w, apply("transpose", [w], perm=(1, 0))])])
    assert in_place.in_place_pairs(ks, pairs_of(ks)) == []


def test_a_reduction_kernel_has_no_in_place_variant():
    w, g = buffer(4, 8), buffer(4, 8)
    total = apply("sum", [apply("mul", [w, g])], axes=(1,), keepdims=True)
    out = apply("sub", [w, apply("broadcast_to", [total], shape=(4, 8))])
    kernels, _, _ = loop_kernels([out])
    assert all(in_place.in_place_pairs(ks, pairs_of(ks)) == [] for ks in kernels)


SOURCE = """import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def kernel(in0, out1, out2, sh):
    for i0 in range(sh[0]):
        v1 = in0[i0]
        out1[i0] = v1 * 2
        v2 = in0[i0]
        out2[i0] = v2 + 1
"""


@pytest.mark.parametrize("output, merges", [(1, False), (2, True)])
def test_an_input_read_after_the_store_is_not_written_over(output, merges):
    """out1 stores before in0 is read again, so merging it into in0 would let out2 see
    the new value; out2 stores after the last read."""
    x = buffer(4)
    node = buffer(4)
    ks = KernelSource(None, SOURCE, [Param("in", x), Param("out", node), Param("out", node)],
                      [4])
    ks.kernel = type("K", (), {"reduce_axes": ()})()
    assert in_place.in_place_pairs(ks, [(0, output)]) == ([(0, output)] if merges else [])
