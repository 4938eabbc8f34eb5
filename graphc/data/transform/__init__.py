"""``graphc.data.transform``: MegEngine's sample transforms (``megengine.data.transform``).

Image transforms work on ``H x W x C`` arrays (BGR, as OpenCV and MegEngine read them);
resizing and hue go through OpenCV, graphc's optional ``vision`` extra
(``pip install 'graphc[vision]'``), loaded on first use.

>>> import numpy as np
>>> import graphc.data.transform as T
>>> t = T.Compose([T.Normalize(mean=0.5, std=0.5), T.Pad(2), T.ToMode("CHW")])
>>> image, label = t.apply((np.ones((28, 28, 1), np.float32), 3))
>>> image.shape, label
((1, 32, 32), 3)
"""

from .color import (
    BrightnessTransform,
    ColorJitter,
    ContrastTransform,
    GaussianNoise,
    HueTransform,
    Lighting,
    SaturationTransform,
)
from .geometry import (
    CenterCrop,
    RandomCrop,
    RandomResize,
    RandomResizedCrop,
    Resize,
    ShortestEdgeResize,
)
from .meta_transform import PseudoTransform, Transform
from .vision import (
    Compose,
    Normalize,
    Pad,
    RandomHorizontalFlip,
    RandomVerticalFlip,
    ToMode,
    VisionTransform,
)

__all__ = ["BrightnessTransform", "CenterCrop", "ColorJitter", "Compose", "ContrastTransform",
           "GaussianNoise", "HueTransform", "Lighting", "Normalize", "Pad",
           "PseudoTransform", "RandomCrop", "RandomHorizontalFlip", "RandomResize",
           "RandomResizedCrop", "RandomVerticalFlip", "Resize", "SaturationTransform",
           "ShortestEdgeResize", "ToMode", "Transform", "VisionTransform"]
