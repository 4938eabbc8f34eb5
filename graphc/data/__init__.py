"""``graphc.data``: datasets, samplers, transforms and a DataLoader yielding NumPy batches,
with MegEngine's names and signatures (``megengine.data``).

>>> import numpy as np
>>> from graphc.data import ArrayDataset, DataLoader, RandomSampler
>>> ds = ArrayDataset(np.arange(6.0), np.arange(6))
>>> loader = DataLoader(ds, RandomSampler(ds, batch_size=4, seed=0))
>>> [x.shape for x, y in loader]
[(4,), (2,)]
"""

from . import dataset, transform
from .collator import Collator, default_collate
from .dataloader import DataLoader
from .dataset import ArrayDataset, ConcatDataset, Dataset, StreamDataset
from .sampler import (
    Infinite,
    MapSampler,
    RandomSampler,
    ReplacementSampler,
    Sampler,
    SequentialSampler,
    StreamSampler,
)

__all__ = ["ArrayDataset", "Collator", "ConcatDataset", "DataLoader", "Dataset", "Infinite",
           "MapSampler", "RandomSampler", "ReplacementSampler", "Sampler", "SequentialSampler",
           "StreamDataset", "StreamSampler", "dataset", "default_collate", "transform"]
