"""``graphc.data``: datasets, samplers and a DataLoader yielding NumPy batches.

>>> import numpy as np
>>> from graphc.data import ArrayDataset, DataLoader
>>> loader = DataLoader(ArrayDataset(np.arange(6.0), np.arange(6)), batch_size=4)
>>> [x.shape for x, y in loader]
[(4,), (2,)]
"""

from .dataloader import DataLoader, default_collate
from .dataset import ArrayDataset, Dataset
from .sampler import MapSampler, RandomSampler, SequentialSampler

__all__ = ["ArrayDataset", "DataLoader", "Dataset", "MapSampler", "RandomSampler",
           "SequentialSampler", "default_collate"]
