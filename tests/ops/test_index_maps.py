"""Index maps build kernel IR trees (graphc/ir/kernel_ir.py), never source text: every
movement op returns :class:`Ix` trees (a constant pad a :class:`GuardedIndex` whose
condition is a tree too), the kernels lowered from them load at indices as simple as the
op's arithmetic, and compiled chains of movement ops read through those trees equal
NumPy and the reference interpreter."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ir import buffer_node
from graphc.ir.kernel_ir import GuardedIndex, Ix, Load
from graphc.ops import apply
from graphc.ops.registry import OPS
from tests.ops.index_trees import map_index
from tests.runtime.compiled import assert_same, run_compiled

RNG = np.random.default_rng(1515)


def leaf(shape):
    return buffer_node(RNG.standard_normal(shape).astype(np.float32), "cpux")


# One node per movement op and mode, each with a non-trivial map on every axis kind.
EXAMPLES = {
    "reshape": [lambda: apply("reshape", [leaf((2, 3, 4))], shape=(6, 4)),
                lambda: apply("reshape", [leaf((24,))], shape=(2, 1, 3, 4))],
    "transpose": [lambda: apply("transpose", [leaf((2, 3, 4))], perm=(2, 0, 1))],
    "broadcast_to": [lambda: apply("broadcast_to", [leaf((3, 1))], shape=(2, 3, 5))],
    "slice": [lambda: apply("slice", [leaf((5, 6))], starts=(4, 1), stops=(-1, 6),
                            steps=(-2, 3))],
    "pad": [lambda mode=mode: apply("pad", [leaf((3, 4))], pads=((1, 2), (0, 1)), mode=mode,
                                    value=1.5) for mode in ("constant", "reflect", "edge")],
}


def _trees(tree: Ix) -> list[Ix]:
    """``tree`` and all its subtrees."""
    out = [tree]
    for a in tree.args:
        if isinstance(a, Ix):
            out += _trees(a)
    return out


def test_every_movement_op_has_an_example():
    assert set(EXAMPLES) == {op.name for op in OPS.values() if op.kind == "movement"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_index_maps_return_ix_trees_not_text(name):
    for make in EXAMPLES[name]:
        node = make()
        index, sizes = map_index(node)
        assert isinstance(index, tuple) and len(index) == node.inputs[0].type.ndim
        trees = list(index) + ([index.condition] if isinstance(index, GuardedIndex) else [])
        for tree in trees:
            for sub in _trees(tree):
                assert isinstance(sub, Ix), (name, sub)
                if sub.op in ("var", "lit", "size"):
                    assert type(sub.args[0]) is (str if sub.op == "var" else int), sub
                else:  # an operator node: its operands are trees, never strings
                    assert all(isinstance(a, Ix) for a in sub.args), sub
        assert all(s > 1 for s in sizes)  # only extents, never a structural 1
    guarded = [make() for make in EXAMPLES["pad"]]
    assert [isinstance(map_index(n)[0], GuardedIndex) for n in guarded] == [True, False, False]


# ---- generated loads stay as simple as the op's arithmetic ---------------------------------

def _load_indices(*tensors) -> set[str]:
    """The printed indices of the loads of the tensors' compiled loop kernels."""
    _, compiled = run_compiled(*tensors)
    return {", ".join(map(str, v.index)) for k in compiled.kernels if hasattr(k, "ir")
            for v in k.ir.values if isinstance(v, Load)}


def test_generated_loads_are_the_maps_arithmetic_without_trivial_terms():
    x = graphc.tensor(RNG.standard_normal((4, 6)).astype(np.float32))
    b = graphc.tensor(RNG.standard_normal((4, 1)).astype(np.float32))
    assert _load_indices((x * 2.0).T + 1.0) == {"i0, i1", "i1, i0"}  # a transpose permutes
    assert _load_indices(x + F.broadcast_to(b, (4, 6))) == {"i0, i1", "i0, 0"}
    # start 0 and step 1 leave no "0 +" or "1 *"; a one-element slice is a constant
    assert _load_indices(x[::2, 1:5] + 1.0) == {"2 * i0, 1 + i1"}
    assert _load_indices(x[3:0:-2, 2:3] + 1.0) == {"3 + -2 * i0, 2"}
    assert _load_indices(x.reshape(24) + 1.0) == {"i0 // n1, i0 % n2"}
    assert _load_indices(F.pad(x, ((1, 0), (0, 2)), mode="edge") + 1.0) == {
        "max(i0 - 1, 0), min(i1, n3 - 1)"}


# ---- compiled chains against NumPy and the interpreter ---------------------------------------

def _data(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _check(tensor, want):
    assert_same(tensor)  # compiled Program == reference interpreter
    got, _ = run_compiled(tensor)
    np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-6)


def test_reshape_transpose_and_negative_step_slices_of_a_computed_value():
    a = _data(4, 6)
    y = (graphc.tensor(a) * 2.0).reshape(2, 3, 4).transpose(2, 0, 1)[::-1, :, ::-2] + 1.0
    _check(y, (a * 2).reshape(2, 3, 4).transpose(2, 0, 1)[::-1, :, ::-2] + 1)


def test_a_reversed_flattened_value_reads_whole_sums_before_dividing():
    """Reshape splits ``(5 + -1 * i0)`` by the input's extents; the text maps once
    divided ``-1 * i0`` alone (``5 + -1 * i0 // n``) and read out of bounds."""
    a = _data(6, 2)
    _check((graphc.tensor(a) * 2.0).reshape(12)[::-1] + 1.0, (a * 2).reshape(12)[::-1] + 1)
    _check((graphc.tensor(a) * 2.0).reshape(3, 4)[::-1, 1::2] + 1.0,
           (a * 2).reshape(3, 4)[::-1, 1::2] + 1)


def test_slices_with_steps_above_one_then_reshape():
    a = _data(7, 9)
    x = graphc.tensor(a)
    _check((x[1::2, ::-3] * 3.0).reshape(9) - 1.0, (a[1::2, ::-3] * 3).reshape(9) - 1)
    _check(x[5:0:-2, 2:8:3].reshape(6) * x[0:6, 0].reshape(6),
           a[5:0:-2, 2:8:3].reshape(6) * a[0:6, 0])


def test_broadcast_of_a_transposed_slice():
    a, c = _data(3, 5), _data(2, 5, 2)
    y = F.broadcast_to(graphc.tensor(a)[::2, ::-1].T.reshape(5, 2) * 0.5, (2, 5, 2))
    _check(y + graphc.tensor(c), np.broadcast_to(a[::2, ::-1].T * 0.5, (2, 5, 2)) + c)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pads_inside_movement_chains(mode):
    a = _data(3, 4)
    pads = ((2, 1), (1, 3))
    kwargs = {"constant_values": -0.5} if mode == "constant" else {}
    want = np.pad((a * 2)[::-1], pads, mode=mode, **kwargs).T[:, ::2]
    y = F.pad((graphc.tensor(a) * 2.0)[::-1], pads, mode=mode, constant_value=-0.5)
    _check(y.T[:, ::2] + 0.0, want)
    # a pad read through a reshape that splits one padded axis
    flat = F.pad(graphc.tensor(a).reshape(12) * 1.0, ((2, 2),), mode=mode,
                 constant_value=-0.5)
    _check(flat.reshape(4, 4) * 2.0,
           np.pad(a.reshape(12), ((2, 2),), mode=mode, **kwargs).reshape(4, 4) * 2)
