"""F.pad (graphc/functional/padding.py) with MegEngine's signature: every mode against
np.pad on N-d inputs, the pairs-for-leading-axes rule, dtypes, errors naming the op and
the user's line, finite-difference gradients, and the compiled path (pad is read through
its index map inside the consumer's kernel)."""

import sys
from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.ir import ShapeError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autodiff.gradcheck import check_grad  # noqa: E402
from runtime.compiled import assert_same  # noqa: E402

RNG = np.random.default_rng(5)
NP_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge"}


def np_pad(x, pads, mode, value=0.0):
    pads = list(pads) + [(0, 0)] * (x.ndim - len(pads))
    kwargs = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, pads, mode=NP_MODE[mode], **kwargs)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "edge"])
@pytest.mark.parametrize("shape, pads", [
    ((5,), ((2, 3),)),
    ((3, 4), ((1, 2), (3, 0))),
    ((2, 3, 4, 5), ((0, 0), (1, 1), (2, 2), (0, 4))),
    ((2, 3, 4), ((1, 1),)),  # fewer pairs than axes: the leading axes are padded
])
def test_matches_numpy(mode, shape, pads):
    x = RNG.standard_normal(shape).astype(np.float32)
    y = F.pad(graphc.tensor(x), pads, mode=mode, constant_value=2.5)
    want = np_pad(x, pads, mode, 2.5)
    assert y.shape == want.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), want)


def test_mode_names_are_case_insensitive_and_replicate_is_edge():
    x = graphc.tensor([1., 2.])
    np.testing.assert_array_equal(F.pad(x, [(2, 1)], mode="REPLICATE").numpy(),
                                  [1., 1., 1., 2., 2.])


def test_constant_value_takes_the_input_dtype():
    x = np.array([[1, 2]], np.int32)
    y = F.pad(graphc.tensor(x), ((1, 0), (0, 1)), constant_value=3.7)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y.numpy(), np.pad(x, ((1, 0), (0, 1)), constant_values=3))


def test_nan_fill_and_empty_input():
    y = F.pad(graphc.tensor([1.]), ((1, 0),), constant_value=float("nan"))
    np.testing.assert_array_equal(y.numpy(), [np.nan, 1.])
    empty = F.pad(F.zeros((0, 2)), ((1, 1), (0, 0)), constant_value=4)
    np.testing.assert_array_equal(empty.numpy(), np.full((2, 2), 4, np.float32))


def test_zero_widths_return_a_new_handle():
    x = graphc.tensor([1., 2.])
    y = F.pad(x, ((0, 0),))
    y += 1
    np.testing.assert_array_equal(x.numpy(), [1., 2.])


@pytest.mark.parametrize("pad_width, mode, message", [
    (((1, 1), (1, 1), (1, 1)), "constant", "3 pairs for a tensor of 2 dimensions"),
    (((1, -2),), "constant", "negative width"),
    (((1, 2, 3),), "constant", "is not a (before, after) pair"),
    (((1.5, 0),), "constant", "non-integer width"),
    (3, "constant", "not a sequence"),
    (((3, 0),), "reflect", "must be smaller than the size 3 of axis 0"),
])
def test_bad_widths_are_clear_errors(pad_width, mode, message):
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        F.pad(F.ones((3, 4)), pad_width, mode=mode)
    assert str(err.value).startswith("pad: ") and "test_padding.py" in str(err.value)


def test_bad_mode_and_rank():
    with pytest.raises(ValueError, match="pad: mode must be one of .* got 'wrap'"):
        F.pad(F.ones(3), ((1, 1),), mode="wrap")
    with pytest.raises(ShapeError, match="pad: cannot pad a 0-d tensor"):
        F.pad(graphc.tensor(1.), ((1, 1),))


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_gradients_match_finite_differences(mode):
    x = RNG.standard_normal((3, 4))
    check_grad(lambda t: F.pad(t, ((2, 1), (3, 3)), mode=mode, constant_value=1.5) ** 2, x)


def test_second_order_gradient_of_constant_pad():
    x = RNG.standard_normal(4)
    check_grad(lambda t: graphc.grad(F.pad(t ** 3, ((1, 2),)).sum(), [t])[0], x)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_compiled_reads_pad_inside_the_consumer_kernel(mode):
    x = graphc.tensor(RNG.standard_normal((2, 3, 5)).astype(np.float32))
    y = F.pad(x, ((1, 0), (2, 1), (3, 4)), mode=mode, constant_value=-1.0)
    compiled = assert_same(y * 2.0 + 1.0, (y * y).sum(axis=2))
    # One loop kernel reads x through the pad: no padded copy is ever stored.
    assert [k.kernel.kind for k in compiled.kernels] == ["loop"]
    if mode == "constant":
        assert "else float32(-1.0)" in compiled.kernels[0].source
