"""``graphc.data.dataset``: map-style and stream datasets, and the vision datasets
(MNIST, CIFAR10/100, ImageFolder, ImageNet) reading their published formats
(``megengine.data.dataset``).

>>> from graphc.data.dataset import ArrayDataset, ConcatDataset
>>> len(ConcatDataset([ArrayDataset([1, 2]), ArrayDataset([3])]))
3
"""

from .cifar import CIFAR10, CIFAR100
from .download import DownloadError, default_root
from .folder import ImageFolder, ImageNet
from .meta_dataset import ArrayDataset, ConcatDataset, Dataset, StreamDataset
from .mnist import MNIST

__all__ = ["CIFAR10", "CIFAR100", "MNIST", "ArrayDataset", "ConcatDataset", "Dataset",
           "DownloadError", "ImageFolder", "ImageNet", "StreamDataset", "default_root"]
