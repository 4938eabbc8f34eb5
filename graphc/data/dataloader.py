"""DataLoader: batches of NumPy arrays from a dataset, a sampler and a transform."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .. import random
from .collator import Collator, default_collate
from .dataset.meta_dataset import StreamDataset
from .sampler import RandomSampler, Sampler, SequentialSampler, StreamSampler, _check_int
from .transform.meta_transform import PseudoTransform, Transform

__all__ = ["DataLoader", "default_collate"]


def _to_tensors(batch: Any) -> Any:
    from ..tensor import tensor

    if isinstance(batch, np.ndarray):
        return tensor(batch)
    if isinstance(batch, Mapping):
        return {k: _to_tensors(v) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(_to_tensors(v) for v in batch)
    return batch


class DataLoader:
    """Iterate over a dataset in batches of NumPy arrays, MegEngine's way.

    ``DataLoader(dataset, sampler=None, transform=None, collator=None, num_workers=0,
    timeout=0, preload=False, parallel_stream=False)``: the ``sampler`` says which
    indices form each batch (default: ``SequentialSampler(dataset, batch_size=1)``), the
    ``transform`` (a :class:`~graphc.data.transform.Transform`) changes each sample, the
    ``collator`` stacks a batch (default :class:`~graphc.data.Collator`: a tuple of
    read-only arrays for tuple samples). ``num_workers > 0`` loads batches in that many
    worker processes (started with ``forkserver``; batches still come in order; a
    worker's exception is raised here with its traceback); ``timeout > 0`` is how many
    seconds to wait for one batch from the workers before raising. ``preload=True``
    yields graphc Tensors instead of arrays.

    graphc's earlier keywords still work: ``batch_size=``, ``shuffle=``, ``drop_last=``
    and ``seed=`` (keyword-only) build the sampler for you. A positional int second
    argument is refused: MegEngine's second parameter is the sampler.

    >>> from graphc.data import ArrayDataset, SequentialSampler
    >>> ds = ArrayDataset(np.arange(5), np.arange(5) * 10)
    >>> [b[1].tolist() for b in DataLoader(ds, SequentialSampler(ds, batch_size=2))]
    [[0, 10], [20, 30], [40]]
    >>> [len(x) for x, y in DataLoader(ds, batch_size=4)]
    [4, 1]
    """

    def __init__(self, dataset: Any, sampler: Sampler | None = None,
                 transform: Transform | None = None, collator: Any = None,
                 num_workers: int = 0, timeout: float = 0, preload: bool = False,
                 parallel_stream: bool = False, *, batch_size: int | None = None,
                 shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None) -> None:
        self.stream = isinstance(dataset, StreamDataset)
        if not self.stream and (not hasattr(dataset, "__getitem__")
                                or not hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: dataset must define __getitem__ and __len__ (or "
                            f"be a StreamDataset), got {type(dataset).__name__}")
        if isinstance(sampler, (int, np.integer)) and not isinstance(sampler, bool):
            raise TypeError(f"DataLoader: the second argument is the sampler (MegEngine's "
                            f"order), got the int {sampler}; pass batch_size={sampler} as a "
                            f"keyword, or sampler=SequentialSampler(dataset, batch_size="
                            f"{sampler})")
        legacy = batch_size is not None or shuffle or drop_last or seed is not None
        if sampler is not None and legacy:
            raise ValueError("DataLoader: pass either a sampler or batch_size/shuffle/"
                             "drop_last/seed, not both (the sampler owns them)")
        if sampler is None:
            size = 1 if batch_size is None else batch_size
            if self.stream:
                if shuffle or seed is not None:
                    raise ValueError("DataLoader: a StreamDataset cannot be shuffled")
                sampler = StreamSampler(size)
            elif shuffle:
                sampler = RandomSampler(dataset, size, drop_last, seed=seed)
            else:
                sampler = SequentialSampler(dataset, size, drop_last)
        if not isinstance(sampler, Sampler):
            raise TypeError(f"DataLoader: sampler must be a graphc.data sampler, got "
                            f"{type(sampler).__name__}")
        if self.stream != isinstance(sampler, StreamSampler):
            raise TypeError("DataLoader: a StreamDataset needs a StreamSampler, and a "
                            "StreamSampler needs a StreamDataset")
        if transform is not None and not hasattr(transform, "apply_batch"):
            raise TypeError(f"DataLoader: transform must be a graphc.data.transform."
                            f"Transform (with apply/apply_batch), got "
                            f"{type(transform).__name__}")
        self.num_workers = _check_int("DataLoader", "num_workers", num_workers, 0,
                                      what="a non-negative int")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"DataLoader: timeout must be a non-negative number of seconds, "
                             f"got {timeout!r}")
        if self.stream and (self.num_workers or parallel_stream):
            raise NotImplementedError("DataLoader: worker processes for a StreamDataset are "
                                      "not supported yet; use num_workers=0")
        self.dataset = dataset
        self.sampler = sampler
        self.transform = transform if transform is not None else PseudoTransform()
        if collator is not None and not hasattr(collator, "apply"):
            collator = _FunctionCollator(collator)  # graphc's earlier collate functions
        self.collator = collator if collator is not None else Collator()
        self.timeout = float(timeout)
        self.preload = preload

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    def __iter__(self) -> Iterator[Any]:
        batches = self._stream_batches() if self.stream else self._map_batches()
        return map(_to_tensors, batches) if self.preload else batches

    def _map_batches(self) -> Iterator[Any]:
        # One seed per pass from graphc.random, one stream per batch from it: a batch's
        # random transforms draw the same in the main process and in any worker.
        pass_seed = random.spawn_seed()
        if self.num_workers == 0:
            for number, indices in enumerate(self.sampler):
                yield load_batch(self.dataset.__getitem__, self.transform, self.collator, indices,
                                 batch_seed(pass_seed, number))
            return
        from .workers import WorkerPool

        pool = WorkerPool(self.num_workers, self.dataset, self.transform, self.collator,
                          self.timeout)
        try:
            yield from pool.run(iter(self.sampler), pass_seed)
        finally:  # also on break: the generator is closed and the workers reaped
            pool.close()

    def _stream_batches(self) -> Iterator[Any]:
        stream = iter(self.dataset)
        pass_seed = random.spawn_seed()
        for number, indices in enumerate(self.sampler):
            items = []
            for _ in indices:
                item = next(stream, _END)
                if item is _END:
                    break
                items.append(item)
            if items:
                yield load_batch(items.__getitem__, self.transform, self.collator,
                                 range(len(items)), batch_seed(pass_seed, number))
            if len(items) < len(indices):
                return

    def __len__(self) -> int:
        if self.stream:
            raise TypeError("DataLoader: a loader over a StreamDataset has no length")
        return len(self.sampler)


_END = object()


def batch_seed(pass_seed: int, number: int) -> int:
    """The seed of batch ``number``'s random stream in the pass seeded ``pass_seed``."""
    return (pass_seed << 64) | number


def load_batch(get_item: Any, transform: Any, collator: Any, indices: Any,
               seed: int) -> Any:
    """One batch: the items ``get_item(i)`` for ``i`` in ``indices``, transformed under
    the batch's own random stream, collated (the main process and the workers both load
    batches with this)."""
    items = [get_item(i) for i in indices]
    with random.seeded_stream(seed):
        return collator.apply(transform.apply_batch(items))


class _FunctionCollator:
    """A plain ``collate(samples)`` function as a collator."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def apply(self, inputs: Any) -> Any:
        return self.function(list(inputs))
