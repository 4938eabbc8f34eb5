"""Colour and noise augmentations (MegEngine's): brightness, contrast, saturation, hue,
their random mix ``ColorJitter``, PCA ``Lighting`` and ``GaussianNoise``.

Images are ``H x W x C`` with values in ``[0, 255]``, channels in BGR order (OpenCV's, as
MegEngine's); each result is clipped to ``[0, 255]`` and keeps the input's dtype. Every
factor is drawn from :mod:`graphc.random` once per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import random
from .cv import load_cv2
from .vision import Compose, ImageOnly, VisionTransform

__all__ = ["BrightnessTransform", "ColorJitter", "ContrastTransform", "GaussianNoise",
           "HueTransform", "Lighting", "SaturationTransform"]

# Luma weights for B, G, R (OpenCV's BGR2GRAY: 0.299 R + 0.587 G + 0.114 B).
_GRAY_BGR = np.array([0.114, 0.587, 0.299])


def to_gray(image: np.ndarray) -> np.ndarray:
    """The luma of a BGR image, ``H x W x 1`` float64 (a 1-channel image is its own)."""
    if image.ndim == 3 and image.shape[2] == 3:
        return (image.astype(np.float64) @ _GRAY_BGR)[..., np.newaxis]
    if image.ndim == 2 or image.shape[2] == 1:
        return image.astype(np.float64).reshape(image.shape[0], image.shape[1], 1)
    raise ValueError(f"to_gray: expected a 1- or 3-channel (BGR) image, got shape "
                     f"{image.shape}")


def _clipped(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.clip(image, 0, 255).astype(dtype)


class _Colour(ImageOnly):
    """A colour transform of factor ``alpha`` drawn from ``[max(0, 1 - value), 1 + value]``;
    images change, geometry passes through."""

    def __init__(self, value: float, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if value < 0:
            raise ValueError(f"{type(self).__name__}: value must be non-negative, got {value}")
        self.value = value

    def _alpha(self) -> float:
        return float(random.numpy_generator().uniform(max(0.0, 1 - self.value),
                                                      1 + self.value))

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self.value == 0:
            return image
        return _clipped(self._blend(image.astype(np.float64), self._alpha()), image.dtype)

    def _blend(self, image: np.ndarray, alpha: float) -> np.ndarray:
        raise NotImplementedError

class BrightnessTransform(_Colour):
    """``image * alpha``.

    >>> BrightnessTransform(0).apply(np.full((1, 1, 3), 9, np.uint8)).tolist()
    [[[9, 9, 9]]]
    """

    def _blend(self, image: np.ndarray, alpha: float) -> np.ndarray:
        return image * alpha


class ContrastTransform(_Colour):
    """``image * alpha + mean(gray(image)) * (1 - alpha)``: towards or away from the mean
    luma.

    >>> ContrastTransform(0.5).apply(np.full((2, 2, 3), 8, np.uint8)).tolist()[0][0]
    [8, 8, 8]
    """

    def _blend(self, image: np.ndarray, alpha: float) -> np.ndarray:
        return image * alpha + to_gray(image).mean() * (1 - alpha)


class SaturationTransform(_Colour):
    """``image * alpha + gray(image) * (1 - alpha)``: towards or away from each pixel's
    luma.

    >>> SaturationTransform(0.5).apply(np.full((1, 1, 3), 40.0)).tolist()
    [[[40.0, 40.0, 40.0]]]
    """

    def _blend(self, image: np.ndarray, alpha: float) -> np.ndarray:
        return image * alpha + to_gray(image) * (1 - alpha)


class HueTransform(_Colour):
    """Rotate the hue by ``alpha`` of a full turn, ``alpha`` drawn from
    ``[-value, value]`` (``value`` at most 0.5), through OpenCV's 8-bit HSV (BGR images).

    >>> img = np.full((1, 1, 3), 80, np.uint8)   # grey has no hue to turn
    >>> HueTransform(0.3).apply(img).tolist()
    [[[80, 80, 80]]]
    """

    def __init__(self, value: float, *, order: Sequence[str] | None = None) -> None:
        super().__init__(value, order=order)
        if not 0 <= value <= 0.5:
            raise ValueError(f"HueTransform: value must be in [0, 0.5], got {value}")

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self.value == 0:
            return image
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"HueTransform: expected a BGR image (H, W, 3), got shape "
                             f"{image.shape}")
        cv2 = load_cv2("HueTransform")
        alpha = random.numpy_generator().uniform(-self.value, self.value)
        hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
        # uint8 wraps around the hue circle (256 steps a turn in the FULL variant)
        hsv[..., 0] = (hsv[..., 0].astype(np.int64) + int(alpha * 255)) % 256
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(image.dtype)


class ColorJitter(VisionTransform):
    """Brightness, contrast, saturation and hue changes (those with a non-zero value), in
    a random order for each sample.

    >>> ColorJitter(brightness=0.2, contrast=0.2).apply(np.full((2, 2, 3), 9, np.uint8)).shape
    (2, 2, 3)
    """

    def __init__(self, brightness: float = 0, contrast: float = 0, saturation: float = 0,
                 hue: float = 0, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        kinds = [(brightness, BrightnessTransform), (contrast, ContrastTransform),
                 (saturation, SaturationTransform), (hue, HueTransform)]
        transforms = [kind(value, order=self.order) for value, kind in kinds if value != 0]
        self.transforms = Compose(transforms,
                                  shuffle_indices=[tuple(range(1, len(transforms) + 1))],
                                  order=self.order)

    def apply(self, input: Any) -> Any:
        return self.transforms.apply(input)


class Lighting(ImageOnly):
    """AlexNet's PCA lighting noise: add ``eigvec @ (alpha * eigval)``, ``alpha`` drawn
    from N(0, (scale * 255)^2) per component (ImageNet's RGB eigenvectors, rows in BGR).

    >>> Lighting(0).apply(np.full((1, 1, 3), 5, np.uint8)).tolist()
    [[[5, 5, 5]]]
    """

    eigvec = np.array([[-0.5836, -0.6948, 0.4203],
                       [-0.5808, -0.0045, -0.8140],
                       [-0.5675, 0.7192, 0.4009]])
    eigval = np.array([0.2175, 0.0188, 0.0045])

    def __init__(self, scale: float, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if scale < 0:
            raise ValueError(f"Lighting: scale must be non-negative, got {scale}")
        self.scale = scale

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self.scale == 0:
            return image
        alpha = random.numpy_generator().normal(scale=self.scale * 255, size=3)
        return _clipped(image.astype(np.float64) + self.eigvec @ (alpha * self.eigval),
                        image.dtype)

class GaussianNoise(ImageOnly):
    """Add ``N(mean, std^2) * 255`` noise per element (``mean``, ``std`` in units of the
    full 0-255 range), clipped to ``[0, 255]``.

    >>> GaussianNoise(std=0.0).apply(np.full((1, 1, 1), 9, np.uint8)).tolist()
    [[[9]]]
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be non-negative, got {std}")
        self.mean = mean
        self.std = std

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        noise = random.numpy_generator().normal(self.mean, self.std, image.shape) * 255
        return _clipped(image + noise.astype(np.float32), image.dtype)
