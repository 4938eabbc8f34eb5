"""In-place legality on the scheduled kernel IR (graphc/codegen/cpu_in_place.py): an
output may overwrite an input only where every element is written by the iteration that
last reads it, after that read. Variants that are allowed compute what NumPy computes."""

import numpy as np

from graphc.codegen.cache import load_kernel
from graphc.codegen.cpu import KernelSource, in_place_source
from graphc.codegen.cpu_in_place import in_place_pairs, may_overwrite
from graphc.ir import buffer_node, structural_key
from graphc.ops import apply
from graphc.runtime.compiler import compile_outputs

rng = np.random.default_rng(0)


def buffer(*shape):
    return buffer_node(rng.standard_normal(shape).astype(np.float32), "cpux")


def loop_kernels(outputs):
    _, args = structural_key(outputs)
    compiled = compile_outputs(outputs, args)
    return [k for k in compiled.kernels if isinstance(k, KernelSource)]


def pairs_of(ks):
    """Every (input, output) parameter pair of the same type."""
    return [(i, o) for i, p in enumerate(ks.params) for o, q in enumerate(ks.params)
            if p.kind == "in" and q.kind == "out" and p.node.type == q.node.type]


def param_of(ks, node, kind):
    return next(k for k, p in enumerate(ks.params) if p.node is node and p.kind == kind)


def run_variant(ks, pairs):
    """Run the in-place variant of ``ks`` for ``pairs`` on copies of its inputs; the
    arrays of its parameters, by parameter position."""
    arrays = {k: p.node.buffer.copy() for k, p in enumerate(ks.params) if p.kind == "in"}
    merged = {o: i for i, o in pairs}
    for k, p in enumerate(ks.params):
        if p.kind == "out" and k not in merged:
            arrays[k] = np.empty(p.node.type.shape, p.node.type.dtype)
    variant = load_kernel(in_place_source(ks, pairs))
    variant(*[arrays[k] for k in range(len(ks.params)) if k not in merged],
            np.array(ks.sizes, np.int64))
    return {**arrays, **{o: arrays[i] for o, i in merged.items()}}


def test_an_update_writes_over_its_input_and_computes_the_same():
    w, g = buffer(6, 5), buffer(6, 5)
    update = apply("sub", [w, apply("mul", [g, apply("exp", [g])])])
    (ks,) = loop_kernels([update])
    safe = in_place_pairs(ks.ir, ks.schedule, pairs_of(ks))  # w and g: each read only
    assert sorted(ks.params[i].node.uid for i, _ in safe) == sorted([w.uid, g.uid])  # where written
    pairs = [(i, o) for i, o in safe if ks.params[i].node is w]
    source = in_place_source(ks, pairs)
    (i, o), = pairs
    assert f"out{o}" not in source.split("def kernel(")[1] and f"in{i}[i0, i1] = " in source
    assert source.count("def kernel(") == 1 and f"in{i} is also out{o}" in source
    arrays = run_variant(ks, pairs)
    np.testing.assert_allclose(arrays[i], w.buffer - g.buffer * np.exp(g.buffer), rtol=1e-6)


def test_an_input_read_at_another_element_is_not_written_over():
    w = buffer(5, 5)
    (ks,) = loop_kernels([apply("sub", [w, apply("transpose", [w], perm=(1, 0))])])
    assert in_place_pairs(ks.ir, ks.schedule, pairs_of(ks)) == []


def test_an_input_read_through_a_shift_or_a_pad_is_not_written_over():
    w = buffer(6)
    shifted = apply("slice", [w], starts=(1,), stops=(6,), steps=(1,))
    head = apply("slice", [w], starts=(0,), stops=(5,), steps=(1,))
    (ks,) = loop_kernels([apply("add", [shifted, head])])
    assert in_place_pairs(ks.ir, ks.schedule, pairs_of(ks)) == []  # types differ anyway
    x = buffer(6)
    padded = apply("pad", [apply("slice", [x], starts=(1,), stops=(5,), steps=(1,))],
                   pads=((1, 1),), mode="constant", value=0.0)
    (ks,) = loop_kernels([apply("mul", [padded, x])])
    source = param_of(ks, x, "in")
    out = next(k for k, p in enumerate(ks.params) if p.kind == "out")
    assert not may_overwrite(ks.ir, ks.schedule, source, out)


def test_a_reduction_kernel_has_no_in_place_variant():
    w, g = buffer(4, 8), buffer(4, 8)
    total = apply("sum", [apply("mul", [w, g])], axes=(1,), keepdims=True)
    out = apply("sub", [w, apply("broadcast_to", [total], shape=(4, 8))])
    kernels = loop_kernels([out])
    assert all(in_place_pairs(k.ir, k.schedule, pairs_of(k)) == [] for k in kernels)


def test_an_input_first_read_by_a_later_store_is_not_written_over():
    """Outputs are stored in order within an iteration: ``a = g * 2`` is stored before
    ``b = w + g`` first reads w, so a may not overwrite w (b would read a's value); b,
    stored after every read of w and g, may overwrite either, and a may overwrite g."""
    w, g = buffer(7), buffer(7)
    a = apply("mul", [g, apply("exp", [g])])
    b = apply("add", [w, g])
    (ks,) = loop_kernels([a, b])
    pw, pg = param_of(ks, w, "in"), param_of(ks, g, "in")
    pa, pb = param_of(ks, a, "out"), param_of(ks, b, "out")
    first = min(pa, pb, key=lambda p: [s.param for s in ks.ir.stores].index(p))
    assert first == pa  # the stores run in output order
    assert not may_overwrite(ks.ir, ks.schedule, pw, pa)
    assert may_overwrite(ks.ir, ks.schedule, pw, pb)
    assert may_overwrite(ks.ir, ks.schedule, pg, pa)
    for pairs in ([(pw, pb)], [(pg, pa)], [(pg, pa), (pw, pb)]):
        arrays = run_variant(ks, pairs)
        np.testing.assert_allclose(arrays[pa], g.buffer * np.exp(g.buffer), rtol=1e-6)
        np.testing.assert_array_equal(arrays[pb], w.buffer + g.buffer)
