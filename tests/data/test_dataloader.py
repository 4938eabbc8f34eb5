"""DataLoader, datasets and samplers: batching, shuffling, drop_last, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.data import (
    ArrayDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    default_collate,
)

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10, dtype=np.int32) * 7


def _dataset() -> ArrayDataset:
    return ArrayDataset(X, Y)


def test_array_dataset_items_and_length() -> None:
    ds = _dataset()
    assert len(ds) == 10
    x, y = ds[3]
    np.testing.assert_array_equal(x, X[3])
    assert y == Y[3]


def test_array_dataset_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        ArrayDataset(X, Y[:5])
    with pytest.raises(ValueError, match="at least one"):
        ArrayDataset()


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (3, False), (3, True),
                                                   (10, False), (12, True)])
def test_sequential_batches(batch_size, drop_last) -> None:
    loader = DataLoader(_dataset(), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    full, rest = divmod(10, batch_size)
    sizes = [batch_size] * full + ([rest] if rest and not drop_last else [])
    assert [len(x) for x, _ in batches] == sizes == [len(b[0]) for b in loader]
    assert len(loader) == len(sizes)
    if batches:
        xs = np.concatenate([x for x, _ in batches])
        ys = np.concatenate([y for _, y in batches])
        np.testing.assert_array_equal(xs, X[:len(xs)])
        np.testing.assert_array_equal(ys, Y[:len(ys)])
        assert xs.dtype == np.float32 and ys.dtype == np.int32


def test_shuffle_gives_a_new_permutation_each_epoch_and_keeps_pairs() -> None:
    loader = DataLoader(_dataset(), batch_size=4, shuffle=True, seed=3)
    epochs = [np.concatenate([y for _, y in loader]) for _ in range(3)]
    for ys in epochs:
        assert sorted(ys.tolist()) == sorted(Y.tolist())
    assert not np.array_equal(epochs[0], epochs[1])
    for x, y in loader:  # rows stay paired with their labels
        np.testing.assert_array_equal(x[:, 0] / 2 * 7, y)


def test_same_seed_same_epochs() -> None:
    def run(seed):
        loader = DataLoader(_dataset(), batch_size=3, shuffle=True, seed=seed)
        return [np.concatenate([y for _, y in loader]).tolist() for _ in range(2)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_unseeded_shuffle_follows_graphc_random_seed() -> None:
    def run():
        graphc.random.seed(42)
        loader = DataLoader(_dataset(), batch_size=10, shuffle=True)
        return next(iter(loader))[1].tolist()

    assert run() == run()


def test_shuffle_with_drop_last() -> None:
    loader = DataLoader(_dataset(), batch_size=4, shuffle=True, drop_last=True, seed=0)
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4] and len(loader) == 2
    assert len(set(np.concatenate([y for _, y in batches]).tolist())) == 8


def test_samplers() -> None:
    assert list(SequentialSampler(range(5), batch_size=2)) == [[0, 1], [2, 3], [4]]
    assert list(SequentialSampler(range(5), batch_size=2, drop_last=True)) == [[0, 1], [2, 3]]
    sampler = RandomSampler(range(7), batch_size=3, seed=1)
    indices = [i for batch in sampler for i in batch]
    assert sorted(indices) == list(range(7)) and len(sampler) == 3
    loader = DataLoader(_dataset(), sampler=SequentialSampler(_dataset(), batch_size=5))
    assert [len(y) for _, y in loader] == [5, 5]
    with pytest.raises(ValueError, match="batch_size"):
        SequentialSampler(range(5), batch_size=0)


def test_sampler_excludes_batch_arguments() -> None:
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(_dataset(), batch_size=4, sampler=SequentialSampler(_dataset()))


def test_custom_dataset_and_collate() -> None:
    class Squares(Dataset):
        def __getitem__(self, i):
            return np.float32(i), {"ignored": i}["ignored"] ** 2

        def __len__(self):
            return 5

    batches = list(DataLoader(Squares(), batch_size=2))
    np.testing.assert_array_equal(batches[-1][1], [16])
    assert default_collate([np.ones(2), np.zeros(2)])[0].shape == (2, 2)
    with pytest.raises(NotImplementedError):
        len(Dataset())
    with pytest.raises(TypeError, match="__getitem__"):
        DataLoader(42)


def test_batches_are_read_only_and_become_tensors_without_a_copy() -> None:
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.int32)
    xb, yb = next(iter(DataLoader(ArrayDataset(x, y), batch_size=4, shuffle=True, seed=0)))
    assert not xb.flags.writeable and not yb.flags.writeable
    with pytest.raises(ValueError):
        xb[0, 0] = 1.0  # a batch is not changed in place (copy it to change it)
    t = graphc.tensor(xb)
    assert t._node.buffer is xb  # shared: nothing can write it
    np.testing.assert_array_equal(t.numpy(), x[yb])


# ---- MegEngine's signature: DataLoader(dataset, sampler, transform, collator, ...) ------

def test_megengine_positional_order_with_a_transform() -> None:
    import graphc.data.transform as T

    images = np.arange(4 * 2 * 3 * 1, dtype=np.uint8).reshape(4, 2, 3, 1)
    ds = ArrayDataset(images, np.arange(4))
    transform = T.Compose([T.Normalize(mean=1.0, std=2.0), T.ToMode("CHW")])
    batches = list(DataLoader(ds, SequentialSampler(ds, batch_size=3), transform))
    x, y = batches[0]
    assert x.shape == (3, 1, 2, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x, ((images[:3] - 1.0) / 2.0).transpose(0, 3, 1, 2))
    assert y.tolist() == [0, 1, 2] and batches[1][1].tolist() == [3]


def test_a_positional_int_points_at_the_sampler() -> None:
    with pytest.raises(TypeError, match=r"second argument is the sampler.*batch_size=4"):
        DataLoader(_dataset(), 4)


def test_seeded_epochs_with_random_transforms_repeat() -> None:
    import graphc.data.transform as T
    from graphc.data import RandomSampler

    ds = ArrayDataset(np.random.default_rng(0).random((9, 5, 5, 1)), np.arange(9))

    def run():
        graphc.random.seed(3)
        loader = DataLoader(ds, RandomSampler(ds, batch_size=4),
                            T.Compose([T.RandomCrop(3), T.RandomHorizontalFlip()]))
        return [(x.copy(), y.copy()) for _ in range(2) for x, y in loader]

    first, second = run(), run()
    for (xa, ya), (xb, yb) in zip(first, second):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][1], first[3][1])  # epoch 2 has another order


def test_collator_concat_dataset_stream_dataset_and_preload() -> None:
    from graphc.data import Collator, ConcatDataset, StreamDataset, StreamSampler

    class Rows(Collator):
        def apply(self, inputs):
            return np.stack([x for x, _ in inputs])

    ds = ConcatDataset([_dataset(), ArrayDataset(X[:2] + 100, Y[:2])])
    out = list(DataLoader(ds, SequentialSampler(ds, batch_size=6), collator=Rows()))
    np.testing.assert_array_equal(np.concatenate(out), np.concatenate([X, X[:2] + 100]))

    class Counting(StreamDataset):
        def __iter__(self):
            return iter((np.float32(i), i % 2) for i in range(5))

    stream = list(DataLoader(Counting(), StreamSampler(batch_size=2)))
    assert [x.tolist() for x, _ in stream] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    with pytest.raises(NotImplementedError, match="StreamDataset"):
        DataLoader(Counting(), num_workers=2)
    with pytest.raises(TypeError, match="StreamSampler"):
        DataLoader(Counting(), SequentialSampler(_dataset()))

    xt, yt = next(iter(DataLoader(_dataset(), batch_size=3, preload=True)))
    assert isinstance(xt, graphc.Tensor) and xt.shape == (3, 2)
    np.testing.assert_array_equal(yt.numpy(), Y[:3])


def test_collator_fields() -> None:
    from graphc.data import Collator

    batch = Collator().apply([{"x": np.ones(2), "name": "a"}, {"x": np.zeros(2), "name": "b"}])
    assert batch["x"].shape == (2, 2) and batch["name"] == ["a", "b"]
    with pytest.raises(ValueError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        Collator().apply([np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(_dataset(), timeout=-1)
