"""Resizing and cropping transforms with MegEngine's ``order`` (see :mod:`.vision` for
how a sample's fields move together): Resize, ShortestEdgeResize, RandomResize,
CenterCrop, RandomCrop, RandomResizedCrop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import random
from .cv import interpolation_flag, resize
from .vision import _LINEAR, _NEAREST, Pad, VisionTransform, _hw, _pair

__all__ = ["CenterCrop", "RandomCrop", "RandomResize", "RandomResizedCrop", "Resize",
           "ShortestEdgeResize"]


class _Resizing(VisionTransform):
    """Shared by the resizing transforms: each sample's ``(h, w, th, tw)`` is chosen
    by ``_target`` in ``apply``, then every field is scaled by it."""

    def __init__(self, interpolation: Any, order: Sequence[str] | None) -> None:
        super().__init__(order)
        self.interpolation = interpolation_flag(type(self).__name__, interpolation)

    def _target(self, h: int, w: int) -> tuple[int, int]:
        raise NotImplementedError

    def apply(self, input: Any) -> Any:
        h, w = _hw(type(self).__name__, self._get_image(input))
        self._shape_info = (h, w, *self._target(h, w))
        return super().apply(input)

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        h, w, th, tw = self._shape_info
        if (h, w) == (th, tw):
            return image
        return resize(type(self).__name__, image, th, tw, self.interpolation)

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        h, w, th, tw = self._shape_info
        if (h, w) == (th, tw):
            return mask
        return resize(type(self).__name__, mask, th, tw, _NEAREST)

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        h, w, th, tw = self._shape_info
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] *= tw / w
        coords[:, 1] *= th / h
        return coords


class Resize(_Resizing):
    """Resize to ``output_size``: ``(height, width)``, or an int for the shorter side
    (keeping the aspect ratio). ``interpolation`` is a cv2.INTER_* flag or a name
    (``"linear"``, ``"nearest"``, ``"cubic"``, ``"area"``, ``"lanczos"``); masks always
    use nearest.

    >>> Resize((4, 6)).apply(np.zeros((2, 3, 3), np.uint8)).shape
    (4, 6, 3)
    >>> Resize(4).apply(np.zeros((2, 3, 1), np.uint8)).shape
    (4, 6, 1)
    """

    def __init__(self, output_size: int | Sequence[int], interpolation: Any = _LINEAR, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(interpolation, order)
        if isinstance(output_size, (int, np.integer)):
            if output_size <= 0:
                raise ValueError(f"Resize: output_size must be positive, got {output_size}")
            self.output_size: Any = int(output_size)
        else:
            self.output_size = _pair("Resize", "output_size", output_size)

    def _target(self, h: int, w: int) -> tuple[int, int]:
        if not isinstance(self.output_size, int):
            return self.output_size
        s = self.output_size
        if min(h, w) == s:
            return h, w
        return (s, int(s * w / h)) if h < w else (int(s * h / w), s)


class ShortestEdgeResize(_Resizing):
    """Resize so the shorter side is ``min_size`` (an int, or drawn from a sequence:
    ``sample_style="range"`` an int in ``[min(min_size), max(min_size)]``, ``"choice"``
    one of them), unless the longer side would pass ``max_size``, which then bounds it.

    >>> ShortestEdgeResize(4, 100).apply(np.zeros((2, 3, 1), np.uint8)).shape
    (4, 6, 1)
    """

    def __init__(self, min_size: int | Sequence[int], max_size: int,
                 sample_style: str = "range", interpolation: Any = _LINEAR, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(interpolation, order)
        if sample_style not in ("range", "choice"):
            raise ValueError(f"ShortestEdgeResize: sample_style must be 'range' or 'choice', "
                             f"got {sample_style!r}")
        sizes = (min_size,) if isinstance(min_size, (int, np.integer)) else tuple(min_size)
        if not sizes or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
            raise ValueError(f"ShortestEdgeResize: min_size must be positive ints, got "
                             f"{min_size!r}")
        self.min_size = tuple(int(s) for s in sizes)
        self.max_size = max_size
        self.sample_style = sample_style

    def _target(self, h: int, w: int) -> tuple[int, int]:
        if len(self.min_size) == 1:
            size = self.min_size[0]
        else:
            gen = random.numpy_generator()
            size = int(gen.integers(min(self.min_size), max(self.min_size) + 1)
                       if self.sample_style == "range" else gen.choice(self.min_size))
        scale = size / min(h, w)
        if max(h, w) * scale > self.max_size:
            scale = self.max_size / max(h, w)
        return int(round(h * scale)), int(round(w * scale))


class RandomResize(_Resizing):
    """Scale both sides by one factor drawn uniformly from ``scale_range``.

    >>> out = RandomResize((2.0, 2.0)).apply(np.zeros((2, 3, 1), np.uint8))
    >>> out.shape
    (4, 6, 1)
    """

    def __init__(self, scale_range: Sequence[float], interpolation: Any = _LINEAR, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(interpolation, order)
        low, high = scale_range
        if not 0 < low <= high:
            raise ValueError(f"RandomResize: scale_range must be 0 < low <= high, got "
                             f"{scale_range!r}")
        self.scale_range = (float(low), float(high))

    def _target(self, h: int, w: int) -> tuple[int, int]:
        scale = random.numpy_generator().uniform(*self.scale_range)
        return max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))


class _Cropping(VisionTransform):
    """Shared by the crops: ``apply`` picks the window ``(x, y, tw, th)``."""

    def _window(self, h: int, w: int) -> tuple[int, int, int, int]:
        raise NotImplementedError

    def apply(self, input: Any) -> Any:
        h, w = _hw(type(self).__name__, self._get_image(input))
        self._coord_info = self._window(h, w)
        return super().apply(input)

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        x, y, tw, th = self._coord_info
        return np.ascontiguousarray(image[y:y + th, x:x + tw])

    _apply_mask = _apply_image

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        x, y, _, _ = self._coord_info
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] -= x
        coords[:, 1] -= y
        return coords


def _check_fits(owner: str, h: int, w: int, th: int, tw: int) -> None:
    if th > h or tw > w:
        raise ValueError(f"{owner}: output size ({th}, {tw}) is larger than the image "
                         f"({h}, {w})")


class CenterCrop(_Cropping):
    """The central ``output_size`` window (an int or ``(height, width)``).

    >>> CenterCrop(2).apply(np.arange(16).reshape(4, 4, 1))[:, :, 0].tolist()
    [[5, 6], [9, 10]]
    """

    def __init__(self, output_size: int | Sequence[int], *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        self.output_size = _pair("CenterCrop", "output_size", output_size)

    def _window(self, h: int, w: int) -> tuple[int, int, int, int]:
        th, tw = self.output_size
        _check_fits("CenterCrop", h, w, th, tw)
        return int(round((w - tw) / 2)), int(round((h - th) / 2)), tw, th


class RandomCrop(_Cropping):
    """A random ``output_size`` window, after padding every side by ``padding_size``
    (images with 0, masks with ``padding_maskvalue``).

    >>> RandomCrop(2, padding_size=1).apply(np.ones((3, 3, 1))).shape
    (2, 2, 1)
    """

    def __init__(self, output_size: int | Sequence[int], padding_size: int = 0,
                 padding_maskvalue: Any = 0, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        self.output_size = _pair("RandomCrop", "output_size", output_size)
        self.pad = Pad(padding_size, 0, padding_maskvalue, order=self.order)
        self.padding_maskvalue = padding_maskvalue

    def apply(self, input: Any) -> Any:
        return super().apply(self.pad.apply(input))

    def _window(self, h: int, w: int) -> tuple[int, int, int, int]:
        th, tw = self.output_size
        _check_fits("RandomCrop", h, w, th, tw)
        gen = random.numpy_generator()
        return int(gen.integers(0, w - tw + 1)), int(gen.integers(0, h - th + 1)), tw, th


class RandomResizedCrop(_Cropping):
    """A random window of ``scale_range`` times the area and ``ratio_range`` aspect
    (width / height, drawn log-uniformly), resized to ``output_size`` (ten tries, then a
    central crop of the clamped aspect, as torchvision and MegEngine do).

    >>> RandomResizedCrop(4).apply(np.zeros((10, 8, 3), np.uint8)).shape
    (4, 4, 3)
    """

    def __init__(self, output_size: int | Sequence[int],
                 scale_range: Sequence[float] = (0.08, 1.0),
                 ratio_range: Sequence[float] = (3.0 / 4, 4.0 / 3),
                 interpolation: Any = _LINEAR, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        self.output_size = _pair("RandomResizedCrop", "output_size", output_size)
        self.scale_range = tuple(float(s) for s in scale_range)
        self.ratio_range = tuple(float(r) for r in ratio_range)
        if not 0 < self.scale_range[0] <= self.scale_range[1] or \
                not 0 < self.ratio_range[0] <= self.ratio_range[1]:
            raise ValueError(f"RandomResizedCrop: scale_range and ratio_range must be "
                             f"0 < low <= high, got {scale_range!r}, {ratio_range!r}")
        self.interpolation = interpolation_flag("RandomResizedCrop", interpolation)

    def _window(self, h: int, w: int) -> tuple[int, int, int, int]:
        gen = random.numpy_generator()
        area = h * w
        log_ratio = (math.log(self.ratio_range[0]), math.log(self.ratio_range[1]))
        for _ in range(10):
            target = area * gen.uniform(*self.scale_range)
            ratio = math.exp(gen.uniform(*log_ratio))
            tw = int(round(math.sqrt(target * ratio)))
            th = int(round(math.sqrt(target / ratio)))
            if 0 < tw <= w and 0 < th <= h:
                return int(gen.integers(0, w - tw + 1)), int(gen.integers(0, h - th + 1)), \
                    tw, th
        ratio = w / h
        if ratio < self.ratio_range[0]:
            tw, th = w, int(round(w / self.ratio_range[0]))
        elif ratio > self.ratio_range[1]:
            th, tw = h, int(round(h * self.ratio_range[1]))
        else:
            tw, th = w, h
        return (w - tw) // 2, (h - th) // 2, tw, th

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        crop = super()._apply_image(image)
        return resize("RandomResizedCrop", crop, *self.output_size, self.interpolation)

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        crop = super()._apply_image(mask)
        return resize("RandomResizedCrop", crop, *self.output_size, _NEAREST)

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        _, _, tw, th = self._coord_info
        coords = super()._apply_coords(coords)
        coords[:, 0] *= self.output_size[1] / tw
        coords[:, 1] *= self.output_size[0] / th
        return coords
