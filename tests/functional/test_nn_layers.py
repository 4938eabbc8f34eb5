"""dropout, embedding, one_hot and topk_accuracy against NumPy; their gradients."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M


def test_dropout_mask_scale_gradient_and_seeding():
    graphc.random.seed(1)
    x = graphc.tensor(np.ones(4000, np.float32))
    y = F.dropout(x, 0.25)
    g = graphc.grad(y.sum(), x)  # before realizing y, which releases its graph
    out = y.numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.03
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    # for ones input the gradient equals the output (same mask and scale)
    np.testing.assert_allclose(g.numpy(), out, rtol=1e-6)
    a, b = F.dropout(x, 0.5).numpy(), F.dropout(x, 0.5).numpy()
    assert (a != b).any()  # two calls draw two masks
    graphc.random.seed(1)
    np.testing.assert_array_equal(F.dropout(x, 0.25).numpy(), out)  # the seed repeats it
    np.testing.assert_array_equal(F.dropout(x, 0.25, training=False).numpy(), x.numpy())
    with pytest.raises(ValueError):
        F.dropout(x, 1.0)


def test_dropout_module_follows_train_and_eval():
    layer = M.Dropout(0.5)
    x = graphc.tensor(np.ones(100, np.float32))
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    layer.train()
    assert (layer(x).numpy() == 0).any()


def test_embedding_gathers_rows_and_accumulates_gradients():
    weight = np.arange(12, dtype=np.float64).reshape(4, 3)
    idx = np.array([[0, 3], [3, 1]])
    w = graphc.tensor(weight, dtype="float64")
    out = F.embedding(graphc.tensor(idx), w)
    grad = graphc.grad(out.sum(), w).numpy()
    np.testing.assert_array_equal(out.numpy(), weight[idx])
    np.testing.assert_array_equal(grad, np.bincount(idx.ravel(), minlength=4)[:, None]
                                  * np.ones((1, 3)))
    with pytest.raises((IndexError, graphc.OpError)):
        F.embedding(graphc.tensor(np.array([5])), w).numpy()


def test_one_hot_keeps_the_input_dtype():
    labels = np.array([[0, 2], [1, 1]], np.int32)
    out = F.one_hot(graphc.tensor(labels), 3)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int32)[labels])


def test_topk_accuracy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((50, 7)).astype(np.float32)
    target = rng.integers(0, 7, 50)
    top1, top3 = F.topk_accuracy(graphc.tensor(logits), graphc.tensor(target), (1, 3))
    order = np.argsort(-logits, axis=1)
    assert top1.item() == pytest.approx((order[:, 0] == target).mean())
    assert top3.item() == pytest.approx((order[:, :3] == target[:, None]).any(1).mean())


@pytest.mark.parametrize("backend_name", ["interp", "compiled"])
def test_indexing_one_hot(monkeypatch, backend_name) -> None:
    monkeypatch.setenv("GRAPHC_BACKEND", backend_name)
    src = np.random.default_rng(7).standard_normal((4, 5, 3)).astype(np.float32)
    index = np.array([[0, 4, 2], [1, 1, 3], [4, 0, 0], [2, 3, 1]], np.int32)
    expected = np.take_along_axis(src, index[:, None, :], axis=1)
    got = F.nn.indexing_one_hot(graphc.tensor(src), graphc.tensor(index), axis=1)
    np.testing.assert_array_equal(got.numpy(), expected[:, 0, :])
    kept = F.indexing_one_hot(graphc.tensor(src), graphc.tensor(index), 1, keepdims=True)
    np.testing.assert_array_equal(kept.numpy(), expected)


def test_megengine_functional_nn_names() -> None:
    # The names MegEngine's tutorials reach through F.nn (megengine.functional.nn).
    for name in ["one_hot", "softmax", "logsoftmax", "conv2d", "dropout", "embedding",
                 "relu", "sigmoid", "linear", "max_pool2d", "avg_pool2d", "batch_norm",
                 "cross_entropy", "pad", "leaky_relu", "gelu", "indexing_one_hot"]:
        assert getattr(F.nn, name) is getattr(F, name), name
    labels = F.nn.one_hot(graphc.tensor([1, 0]), 3).numpy()
    np.testing.assert_array_equal(labels, np.eye(3, dtype=labels.dtype)[[1, 0]])
