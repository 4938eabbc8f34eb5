"""Property tests (hypothesis) of the functional layer against NumPy: broadcasting,
reshape with -1, and reductions over random axis subsets."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphc
import graphc.functional as F

SMALL = {"min_dims": 0, "max_dims": 4, "min_side": 0, "max_side": 4}


def floats(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, **SMALL), st.integers(0, 2**16))
def test_add_and_mul_broadcast_like_numpy(shapes, seed):
    (ashape, bshape), result = shapes
    a, b = floats(ashape, seed), floats(bshape, seed + 1)
    for fn, reference in ((F.add, np.add), (F.mul, np.multiply)):
        out = fn(graphc.tensor(a), graphc.tensor(b))
        assert out.shape == np.broadcast_shapes(ashape, bshape) == result
        np.testing.assert_allclose(out.numpy(), reference(a, b), rtol=1e-6)


@given(hnp.mutually_broadcastable_shapes(num_shapes=3, **SMALL), st.integers(0, 2**16))
def test_where_broadcasts_like_numpy(shapes, seed):
    (mshape, ashape, bshape), result = shapes
    mask = np.random.default_rng(seed).random(mshape) < 0.5
    a, b = floats(ashape, seed + 1), floats(bshape, seed + 2)
    out = F.where(graphc.tensor(mask), graphc.tensor(a), graphc.tensor(b))
    assert out.shape == np.broadcast_shapes(mshape, ashape, bshape) == result
    np.testing.assert_array_equal(out.numpy(), np.where(mask, a, b))


@st.composite
def reshapes(draw):
    """A shape and a valid target shape of the same size, possibly with one -1."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    size = int(np.prod(shape))
    target: list[int] = []
    remaining = size
    for _ in range(draw(st.integers(0, 4))):
        divisors = [d for d in range(1, remaining + 1) if remaining % d == 0]
        d = draw(st.sampled_from(divisors))
        target.append(d)
        remaining //= d
    target.append(remaining)
    target = draw(st.permutations(target))
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@given(reshapes())
def test_reshape_with_inferred_dimension_matches_numpy(case):
    shape, target = case
    data = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    out = F.reshape(graphc.tensor(data), target)
    expected = data.reshape(target)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)


@st.composite
def reductions(draw):
    """A shape, a random subset of its axes (as ints, negative ints or None) and keepdims."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    axes = draw(st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim))
    axes = [a - ndim if draw(st.booleans()) else a for a in axes]
    axis = draw(st.sampled_from([None, tuple(axes)] + ([axes[0]] if len(axes) == 1 else [])))
    return shape, axis, draw(st.booleans())


@given(reductions(), st.integers(0, 2**16))
def test_reductions_match_numpy(case, seed):
    shape, axis, keepdims = case
    x = floats(shape, seed)
    for fn, reference in ((F.sum, np.sum), (F.max, np.max), (F.mean, np.mean)):
        out = fn(graphc.tensor(x), axis, keepdims)
        expected = np.asarray(reference(x, axis=axis, keepdims=keepdims))
        assert out.shape == expected.shape and out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
