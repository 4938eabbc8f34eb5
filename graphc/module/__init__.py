"""``graphc.module`` (``import graphc.module as M``): Module and layers.

>>> import graphc, numpy as np
>>> net = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
>>> net(graphc.tensor(np.ones((3, 4)))).shape
(3, 2)
"""

from . import init
from .conv import Conv2d
from .layers import (
    GELU,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from .module import HookHandler, Module
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d

__all__ = ["GELU", "BatchNorm1d", "BatchNorm2d", "Dropout", "Embedding", "Flatten", "HookHandler",
           "Identity", "LayerNorm", "LeakyReLU",
           "Linear", "Module", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "init"]
__all__ += ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "Conv2d", "MaxPool2d"]
