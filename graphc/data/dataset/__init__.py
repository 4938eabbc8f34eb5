"""``graphc.data.dataset``: map-style and stream datasets, and the vision datasets
(MNIST, CIFAR10/100, ImageFolder, ImageNet) reading their published formats."""

from .meta_dataset import ArrayDataset, ConcatDataset, Dataset, StreamDataset

__all__ = ["ArrayDataset", "ConcatDataset", "Dataset", "StreamDataset"]
