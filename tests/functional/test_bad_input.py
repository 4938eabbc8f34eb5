"""Bad input gets a warning or an error that says what is wrong, where (issue 16,
part 5): broadcasting losses, one_hot's range, class labels, bool() of a tensor, and a
train-mode Dropout in graphc.function."""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M

HERE = os.path.basename(__file__)


def _next_line() -> str:
    return f"{HERE}:{inspect.currentframe().f_back.f_lineno + 1}"


@pytest.mark.parametrize("loss", [F.mse_loss, F.square_loss, F.l1_loss,
                                  F.binary_cross_entropy])
def test_losses_warn_where_target_and_prediction_broadcast(loss):
    pred = np.array([[0.5], [1.0], [2.0]], np.float32)  # (N, 1)
    target = np.array([0.5, 1.0, 2.0], np.float32)       # (N,)
    with pytest.warns(UserWarning, match=r"the target's shape \(3,\) differs from the "
                                         r"prediction's \(3, 1\), so they broadcast to "
                                         r"\(3, 3\)") as seen:
        where = _next_line()
        got = loss(graphc.tensor(pred), graphc.tensor(target)).item()
    assert seen[0].filename == __file__ and f"({where})" in str(seen[0].message)
    # The value is still MegEngine's (broadcast), computed independently here:
    reference = {F.mse_loss: lambda d, t: (d - t) ** 2, F.square_loss: lambda d, t: (d - t) ** 2,
                 F.l1_loss: lambda d, t: abs(d - t),
                 F.binary_cross_entropy: lambda d, t: np.maximum(d, 0) - d * t
                 + np.log1p(np.exp(-abs(d)))}[loss]
    np.testing.assert_allclose(got, reference(pred, target).mean(), rtol=1e-6)


def test_losses_do_not_warn_for_matching_shapes_or_a_number():
    pred = graphc.tensor(np.ones((3, 1), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(pred, graphc.tensor(np.zeros((3, 1), np.float32)))
        F.l1_loss(pred, 0.0)


def test_one_hot_refuses_a_class_out_of_range():
    assert F.one_hot(graphc.tensor([0, 2]), 3).numpy().tolist() == np.eye(3, dtype=int)[
        [0, 2]].tolist()
    for labels, bad in (([0, 4], 4), ([-1, 1], -1)):
        encoded = F.one_hot(graphc.tensor(labels), 3)
        where = f"{HERE}:{inspect.currentframe().f_lineno - 1}"
        with pytest.raises(graphc.OpError, match=rf"one_hot: class {bad} is out of range for "
                                                 rf"3 classes .*\({where}\)"):
            encoded.numpy()


def test_one_hot_in_a_compiled_function_checks_every_call():
    x = graphc.placeholder((None,), dtype="int32", name="labels")
    encode = graphc.function([x], F.one_hot(x, 3), name="encode")
    np.testing.assert_array_equal(encode(np.array([2, 0], np.int32)), np.eye(3)[[2, 0]])
    with pytest.raises(graphc.OpError, match="one_hot: class 7 is out of range"):
        encode(np.array([2, 7], np.int32))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_class_labels_of_the_wrong_dtype_or_shape_name_the_loss(loss):
    name = loss.__name__
    pred = graphc.tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(graphc.DTypeError, match=rf"^{name}: labels must be integer class "
                                                rf"indices, got float32 labels of shape "
                                                rf"\(3,\) for a float32 prediction of shape "
                                                rf"\(3, 4\) \(") as e:
        where = _next_line()
        loss(pred, graphc.tensor(np.zeros(3, np.float32)))
    assert str(e.value).endswith(f"({where})")
    with pytest.raises(graphc.ShapeError, match=rf"^{name}: labels of shape \(3, 1\) do not "
                                                rf"fit a prediction of shape \(3, 4\) .*shape "
                                                rf"\(3,\); drop the label's size-1 axis") as e:
        loss(pred, graphc.tensor(np.zeros((3, 1), np.int32)))
    assert "gather" not in str(e.value)


def test_bool_of_several_elements_is_ambiguous():
    t = graphc.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^the truth value of a Tensor with 2 elements "
                                         r"\(shape \(2,\)\) is ambiguous") as e:
        bool(t)
    assert "item()" not in str(e.value)
    with pytest.raises(ValueError, match=r"only a Tensor with one element converts to a "
                                         r"Python float; this one has shape \(2,\)"):
        float(t)
    assert bool(graphc.tensor([3.0])) and int(graphc.tensor([[2]])) == 2


def test_train_mode_dropout_over_a_none_batch_names_the_cause():
    graphc.random.seed(0)
    net = M.Sequential(M.Linear(3, 3), M.Dropout(0.5))
    x = graphc.placeholder((None, 3), name="batch")
    with pytest.raises(graphc.TraceError, match=r"^infer: a random bernoulli draw of shape "
                                                r"\(None, 3\), made at (.*), takes its "
                                                r"size from the symbolic dimension of input "
                                                r"'batch' of shape \(None, 3\).*call "
                                                r"model\.eval\(\)") as e:
        where = _next_line()
        graphc.function([x], net(x), name="infer")
    assert f"made at {where}," in str(e.value)
    net.eval()
    infer = graphc.function([x], net(x), name="infer")
    data = np.ones((4, 3), np.float32)
    np.testing.assert_allclose(infer(data), net[0](graphc.tensor(data)).numpy(), rtol=1e-6)
