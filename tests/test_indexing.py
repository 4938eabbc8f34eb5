"""NumPy-style indexing of Tensors (graphc/indexing.py): getitem and setitem against NumPy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc

SHAPE = (2, 3, 4, 5)


def _data(shape=SHAPE, dtype=np.float32):
    return np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)


def _assert_same(got, want):
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def _getitem_matches(a, key, tensor_key=None):
    got = graphc.tensor(a)[key if tensor_key is None else tensor_key]
    _assert_same(got.numpy(), a[key])


A = _data()
MASK_FULL = A > 60
MASK_LAST2 = A[0, 0] % 3 == 0        # shape (4, 5)
MASK_AXIS1 = np.array([True, False, True])

BASIC_KEYS = [
    0, -1, (1, 2), (-1, -2, -3, -4), slice(None), slice(1, None), slice(None, None, -1),
    (slice(None), slice(3, 0, -2)), (Ellipsis, slice(None, None, 2)), (None, 1),
    (0, Ellipsis, None), (Ellipsis,), (slice(1, 2), None, slice(None), 3),
    (slice(-100, 100), slice(10, 20)), (Ellipsis, 0, None, slice(4, None, -3)), (),
]


@pytest.mark.parametrize("key", BASIC_KEYS, ids=repr)
def test_basic_indexing(key):
    _getitem_matches(A, key)


ADVANCED_KEYS = [
    [1, 0], [-1], np.array([[0, 1], [1, 0]]), (slice(None), [2, 0, 2]),
    (slice(None), np.array([[0], [2]]), np.array([1, 3])),
    (0, slice(None), [1, 2]),                       # separated advanced indices
    (slice(None, 2), [0, 2], None, [0, 1]),         # NumPy's mixed example
    (1, [0, 2], slice(None), [1, 3]),
    (slice(None), [0, 1], slice(None), [1, 2]),     # advanced dims go first
    (Ellipsis, [4, 0]), ([0, 1], Ellipsis, [1, 2]), (None, [1], slice(1, 3)),
    (slice(None, None, -1), [2, 1]),
    np.zeros(0, dtype=np.int64), [],
]


@pytest.mark.parametrize("key", ADVANCED_KEYS, ids=repr)
def test_advanced_indexing(key):
    _getitem_matches(A, key)


@pytest.mark.parametrize("key", [
    MASK_FULL, A[:, :, :, 0] > 20, (slice(None), MASK_AXIS1), (1, MASK_AXIS1),
    (0, slice(None), A[0, 0, :, 0] > 6),
    (Ellipsis, MASK_LAST2), (1, 2, MASK_LAST2), (MASK_FULL[:, :, 0, 0], 1),
    np.zeros(SHAPE, dtype=bool),
], ids=lambda k: "mask")
def test_boolean_masks(key):
    _getitem_matches(A, key)


def test_tensor_keys():
    idx = np.array([[2, 0], [1, 1]], dtype=np.int32)
    _getitem_matches(A, (slice(None), idx), (slice(None), graphc.tensor(idx)))
    _getitem_matches(A, (1, idx, 0), (graphc.tensor(1), graphc.tensor(idx), 0))
    mask = A[:, :, 0, 0] > 30
    _getitem_matches(A, mask, graphc.tensor(mask))
    # an index tensor that is itself pending
    lazy_idx = graphc.tensor([1, 0]) * 1
    _getitem_matches(A, [1, 0], lazy_idx)


def test_int_tensor_of_other_int_dtypes():
    for dtype in (np.int8, np.int64, np.uint8):
        idx = np.array([1, 0, 1], dtype=dtype)
        _getitem_matches(A, idx)


def test_empty_tensors():
    e = np.zeros((0, 3), dtype=np.float32)
    for key in (slice(None), (slice(None), 1), (Ellipsis, [0, 2]), slice(0, 0), None):
        _getitem_matches(e, key)
    _getitem_matches(A, (slice(2, 2), 0))
    _getitem_matches(A, (slice(None, None, -1), slice(0, 0)))
    t = graphc.tensor(A)
    np.testing.assert_array_equal(t[1:1].sum(axis=0).numpy(), A[1:1].sum(axis=0))


def test_indexing_a_pending_result():
    t = graphc.tensor(A) * 2 + 1
    picked = t[1, ::2, [0, 3]]
    assert not picked._node.realized
    _assert_same(picked.numpy(), (A * 2 + 1)[1, ::2, [0, 3]])


# ---- errors ---------------------------------------------------------------------

@pytest.mark.parametrize("key", [
    (Ellipsis, 0, Ellipsis), (0, 0, 0, 0, 0), (0, 0, 0, 0, None, 0), 2, -3, (0, 3), (0, 0, 4),
    (0, 0, 0, -6), [0, 2], (0, [1, -4]), (slice(None), np.array([[0], [3]])),
], ids=repr)
def test_bad_keys_raise_index_error(key):
    with pytest.raises(IndexError):
        A[key]
    with pytest.raises(IndexError):
        graphc.tensor(A)[key]


@pytest.mark.parametrize("key", [1.5, "a", True, [0.5, 1.0], (slice(None), {1})], ids=repr)
def test_invalid_key_types_raise_index_error(key):
    with pytest.raises(IndexError):
        graphc.tensor(A)[key]


def test_mask_of_wrong_shape_raises():
    with pytest.raises(IndexError, match="boolean index"):
        graphc.tensor(A)[np.array([True, False, True])]


def test_out_of_bounds_index_tensor_raises_when_run():
    picked = graphc.tensor(A)[graphc.tensor([0, 2])]
    with pytest.raises(graphc.OpError, match="out of bounds"):
        picked.numpy()


# ---- setitem --------------------------------------------------------------------

def _setitem_matches(shape, key, value, tensor_value=None):
    a = _data(shape)
    t = graphc.tensor(a)
    t[key] = value if tensor_value is None else tensor_value
    a[key] = value
    _assert_same(t.numpy(), a)


@pytest.mark.parametrize(("shape", "key", "value"), [
    ((3,), slice(None), [1, 1, 1]),
    ((3,), [0, 2], [3, 2]),
    ((4,), slice(1, 3), [4, 5]),
    ((2, 3), Ellipsis, 7.5),
    ((2, 3), 1, [10, 11, 12]),
    ((2, 3), (slice(None), 1), 0),                       # scalar broadcast
    ((2, 3, 4), (slice(None), slice(None, None, -2)), np.arange(8).reshape(2, 1, 4)),
    ((2, 3, 4), (None, 0), np.arange(4)),
    ((2, 3), (slice(None), [0, 2]), [[1, 2], [3, 4]]),
    ((2, 3, 4), (0, slice(None), [1, 2]), np.ones((2, 3))),
    ((2, 3, 4), (slice(None), [2, 0], slice(None)), -1),
    ((2, 3, 4), (Ellipsis, np.array([[0], [3]])), np.arange(6).reshape(3, 2, 1)),
    ((2, 3), np.arange(6).reshape(2, 3) > 2, 0),
    ((2, 3), np.arange(6).reshape(2, 3) % 2 == 0, [9, 8, 7]),
    ((2, 3), (slice(None), np.array([True, False, True])), [[1], [2]]),
    ((0, 3), slice(None), 5),
    ((3,), slice(2, 2), []),
], ids=repr)
def test_setitem_matches_numpy(shape, key, value):
    _setitem_matches(shape, key, value)


def test_setitem_with_tensor_value_and_tensor_key():
    a = _data((3, 4))
    t = graphc.tensor(a)
    v = np.array([[-1.0], [-2.0]], dtype=np.float32)
    t[graphc.tensor([2, 0])] = graphc.tensor(v) * 2
    a[[2, 0]] = v * 2
    _assert_same(t.numpy(), a)


def test_setitem_casts_value_to_tensor_dtype():
    a = _data((4,), np.int32)
    t = graphc.tensor(a)
    t[1:3] = graphc.tensor([2.7, -1.2])
    a[1:3] = np.array([2.7, -1.2])
    assert t.dtype == np.int32
    _assert_same(t.numpy(), a)


def test_setitem_does_not_change_tensors_taken_before():
    a = _data((2, 3))
    t = graphc.tensor(a)
    before = t[0]
    doubled = t * 2
    t[0] = 100
    np.testing.assert_array_equal(before.numpy(), a[0])
    np.testing.assert_array_equal(doubled.numpy(), a * 2)
    assert t.numpy()[0, 0] == 100


@pytest.mark.parametrize(("key", "value"), [
    (slice(None), [1.0, 2.0]), ((0, slice(None)), np.ones(4)), ([0, 1], np.ones((3, 3))),
    (Ellipsis, np.ones((2, 2, 3))),
], ids=repr)
def test_setitem_value_shape_mismatch_raises(key, value):
    t = graphc.tensor(_data((2, 3)))
    with pytest.raises(ValueError, match="setitem") as info:
        t[key] = value
    assert "(2, 3)" in str(info.value) or "(3,)" in str(info.value) or "(2," in str(info.value)


def test_setitem_bad_key_raises_index_error():
    t = graphc.tensor(_data((2, 3)))
    for key in ((0, 0, 0), (Ellipsis, Ellipsis), 5, (0, -4)):
        with pytest.raises(IndexError):
            t[key] = 1


# ---- random basic keys against NumPy --------------------------------------------

@st.composite
def shapes_and_keys(draw):
    """A small shape and a valid basic key for it: ints, slices, None and one Ellipsis."""
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
    n_axes = draw(st.integers(0, len(shape)))
    kinds = [draw(st.sampled_from(["int", "slice"])) for _ in range(n_axes)]
    kinds += ["none"] * draw(st.integers(0, 2))
    if draw(st.booleans()):
        kinds.append("ellipsis")
    kinds = draw(st.permutations(kinds))
    # axes indexed by the items before an Ellipsis come first, those after it last
    split = kinds.index("ellipsis") if "ellipsis" in kinds else len(kinds)
    before = sum(k in ("int", "slice") for k in kinds[:split])
    axes = iter(list(range(before)) + list(range(len(shape) - (n_axes - before), len(shape))))
    items = []
    for kind in kinds:
        if kind == "none":
            items.append(None)
        elif kind == "ellipsis":
            items.append(Ellipsis)
        else:
            size = shape[next(axes)]
            if kind == "int" and size > 0:
                items.append(draw(st.integers(-size, size - 1)))
            else:
                bound = st.none() | st.integers(-6, 6)
                step = st.none() | st.integers(-3, 3).filter(lambda s: s != 0)
                items.append(slice(draw(bound), draw(bound), draw(step)))
    key = tuple(items) if draw(st.booleans()) or len(items) != 1 else items[0]
    return shape, key


@given(shapes_and_keys())
def test_random_basic_keys_match_numpy(shape_key):
    shape, key = shape_key
    a = _data(shape)
    _getitem_matches(a, key)
    region = a[key]
    value = -np.arange(region.size, dtype=np.float32).reshape(region.shape) - 1
    _setitem_matches(shape, key, value)
    _setitem_matches(shape, key, np.float32(-7))
