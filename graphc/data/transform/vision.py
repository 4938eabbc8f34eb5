"""Vision transforms with MegEngine's ``order``: the base class, layout (ToMode,
Normalize), padding and flips, applied consistently to every field of a sample (the
resizing and cropping transforms are in :mod:`.geometry`).

A sample is a tuple whose fields ``order`` names: ``"image"`` (H x W x C, BGR as OpenCV
reads it), ``"coords"`` (N x 2 of x, y), ``"boxes"`` (N x 4 of x0, y0, x1, y1),
``"mask"`` (H x W x 1), ``"keypoints"`` (N x K x 3), ``"polygons"``; a field whose name
ends in ``category`` or ``info`` passes through, and fields past the end of ``order``
pass through too: ``Normalize()`` on an ``(image, label)`` sample changes the image only.
Random choices are drawn from :mod:`graphc.random` (``graphc.random.seed`` repeats them),
once per sample, so all fields of a sample move together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import random
from .meta_transform import Transform

__all__ = ["Compose", "ImageOnly", "Normalize", "Pad", "RandomHorizontalFlip",
           "RandomVerticalFlip", "ToMode", "VisionTransform"]

_NEAREST, _LINEAR = 0, 1  # cv2.INTER_NEAREST, cv2.INTER_LINEAR


def _pair(owner: str, name: str, size: Any) -> tuple[int, int]:
    """``(h, w)`` from an int or a pair of positive ints."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise ValueError(f"{owner}: {name} must be a positive int or (height, width), "
                         f"got {size!r}")
    return int(pair[0]), int(pair[1])


def _hw(owner: str, image: np.ndarray) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError(f"{owner}: expected an image array of shape (H, W) or (H, W, C), "
                         f"got {getattr(image, 'shape', type(image).__name__)}")
    return image.shape[0], image.shape[1]


class VisionTransform(Transform):
    """Base class of vision transforms: ``apply`` maps each field of a sample by
    ``order`` to ``_apply_<field>`` (``_apply_image``, ``_apply_coords``, ...).

    >>> class Invert(VisionTransform):
    ...     def _apply_image(self, image): return 255 - image
    >>> img, label = Invert().apply((np.zeros((1, 1, 1), np.uint8), 7))
    >>> int(img[0, 0, 0]), label
    (255, 7)
    """

    def __init__(self, order: Sequence[str] | None = None) -> None:
        if order is None:
            order = ("image",)
        elif isinstance(order, str) or not isinstance(order, Sequence):
            raise ValueError(f"{type(self).__name__}: order must be a sequence of field "
                             f"names, got {order!r}")
        for key in order:
            if key == "batch":
                raise ValueError(f"{type(self).__name__}: 'batch' is not a sample field")
            if key.endswith("category") or key.endswith("info"):
                continue
            if self._get_apply(key) is None:
                raise NotImplementedError(f"{type(self).__name__} cannot transform the field "
                                          f"{key!r}")
        self.order = tuple(order)

    def _get_apply(self, key: str) -> Any:
        return getattr(self, f"_apply_{key}", None)

    def _get_image(self, input: Any) -> np.ndarray:
        fields = input if isinstance(input, tuple) else (input,)
        if "image" not in self.order:
            raise ValueError(f"{type(self).__name__} needs an 'image' field in its order "
                             f"{self.order}")
        return fields[self.order.index("image")]

    def apply(self, input: Any) -> Any:
        fields = input if isinstance(input, tuple) else (input,)
        out = []
        for i, value in enumerate(fields):
            key = self.order[i] if i < len(self.order) else None
            apply = None if key is None or key.endswith(("category", "info")) \
                else self._get_apply(key)
            out.append(value if apply is None else apply(value))
        return out[0] if len(out) == 1 else tuple(out)

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define _apply_image")

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not transform coords")

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not transform masks")

    def _apply_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes through their four corners: the bounding box of the moved corners."""
        corners = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[
            :, [0, 1, 2, 1, 0, 3, 2, 3]].reshape(-1, 2)
        moved = self._apply_coords(corners).reshape(-1, 4, 2)
        return np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)

    def _apply_keypoints(self, keypoints: np.ndarray) -> np.ndarray:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        coords, visibility = keypoints[..., :2], keypoints[..., 2:]
        moved = np.stack([self._apply_coords(p.copy()) for p in coords])
        return np.concatenate([moved, visibility], axis=-1)

    def _apply_polygons(self, polygons: list) -> list:
        return [[self._apply_coords(np.asarray(p, dtype=np.float64).copy()) for p in shape]
                for shape in polygons]


class ImageOnly(VisionTransform):
    """Base class of transforms that change pixel values only: coordinates and masks
    pass through unchanged."""

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return mask


class Compose(VisionTransform):
    """Apply ``transforms`` one after another. ``shuffle_indices`` (MegEngine's, counting
    from 1) lists groups of transforms whose order is shuffled for each sample;
    ``batch_compose=True`` applies each transform to the whole batch before the next.

    >>> t = Compose([Normalize(mean=1.0, std=2.0), ToMode("CHW")])
    >>> t.apply(np.full((2, 2, 3), 5.0, np.float32)).shape
    (3, 2, 2)
    """

    def __init__(self, transforms: Sequence[Transform] = (), batch_compose: bool = False,
                 shuffle_indices: Sequence[Sequence[int]] | None = None, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not hasattr(t, "apply"):
                raise TypeError(f"Compose: transform {i} ({type(t).__name__}) has no apply()")
        self.batch_compose = batch_compose
        self.shuffle_indices = [tuple(group) for group in shuffle_indices or ()]
        for group in self.shuffle_indices:
            if not all(1 <= i <= len(self.transforms) for i in group):
                raise ValueError(f"Compose: shuffle_indices {group} must be in [1, "
                                 f"{len(self.transforms)}] (they count from 1)")

    def _ordered(self) -> list[Transform]:
        transforms = list(self.transforms)
        if self.shuffle_indices:
            gen = random.numpy_generator()
            for group in self.shuffle_indices:
                picked = [transforms[i - 1] for i in group]
                for i, j in zip(group, gen.permutation(len(group))):
                    transforms[i - 1] = picked[j]
        return transforms

    def apply(self, input: Any) -> Any:
        for t in self._ordered():
            input = t.apply(input)
        return input

    def apply_batch(self, inputs: Sequence[Any]) -> tuple:
        if not self.batch_compose:
            return tuple(self.apply(input) for input in inputs)
        for t in self._ordered():
            inputs = t.apply_batch(inputs)
        return tuple(inputs)


class ToMode(VisionTransform):
    """Images (and masks) from ``H x W x C`` to ``C x H x W`` (``mode="CHW"``).

    >>> ToMode().apply(np.zeros((4, 5, 3))).shape
    (3, 4, 5)
    """

    def __init__(self, mode: str = "CHW", *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if mode not in ("CHW", "HWC"):
            raise ValueError(f"ToMode: mode must be 'CHW' or 'HWC', got {mode!r}")
        self.mode = mode

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self.mode == "HWC":
            return image
        if image.ndim == 2:
            return image[np.newaxis]
        return np.ascontiguousarray(np.moveaxis(image, 2, 0))

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    _apply_mask = _apply_image


class Normalize(ImageOnly):
    """``(image - mean) / std`` per channel, in float32 (float64 images stay float64).

    >>> Normalize(mean=[1, 2], std=2).apply(np.array([[[3, 6]]], np.uint8)).tolist()
    [[[1.0, 2.0]]]
    """

    def __init__(self, mean: Any = 0.0, std: Any = 1.0, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        if (self.std == 0).any():
            raise ValueError(f"Normalize: std must not be 0, got {std!r}")

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return (image - self.mean) / self.std


class Pad(VisionTransform):
    """Pad with a constant: ``size`` is one int for every side or
    ``(top, bottom, left, right)``; ``value`` a number or one per channel; masks pad
    with ``mask_value``.

    >>> Pad(1).apply(np.ones((1, 1, 1), np.uint8))[:, :, 0].tolist()
    [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    """

    def __init__(self, size: int | Sequence[int] = 0, value: Any = 0, mask_value: Any = 0, *,
                 order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        sides = (size,) * 4 if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sides) != 4 or not all(isinstance(s, (int, np.integer)) and s >= 0
                                      for s in sides):
            raise ValueError(f"Pad: size must be a non-negative int or (top, bottom, left, "
                             f"right), got {size!r}")
        self.size = tuple(int(s) for s in sides)
        self.value = value
        self.mask_value = mask_value

    def _pad(self, image: np.ndarray, value: Any) -> np.ndarray:
        top, bottom, left, right = self.size
        h, w = _hw("Pad", image)
        out_shape = (h + top + bottom, w + left + right) + image.shape[2:]
        out = np.empty(out_shape, dtype=image.dtype)
        fill = np.asarray(value)
        if fill.ndim and image.ndim == 3 and fill.shape[0] != image.shape[2]:
            raise ValueError(f"Pad: value has {fill.shape[0]} entries for an image of "
                             f"{image.shape[2]} channels")
        out[...] = fill
        out[top:top + h, left:left + w] = image
        return out

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return self._pad(image, self.value)

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] += self.size[2]
        coords[:, 1] += self.size[0]
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return self._pad(mask, self.mask_value)


class _RandomFlip(VisionTransform):
    axis = 0  # 1: horizontal (x), 0: vertical (y)

    def __init__(self, prob: float = 0.5, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if not 0 <= prob <= 1:
            raise ValueError(f"{type(self).__name__}: prob must be in [0, 1], got {prob}")
        self.prob = prob

    def apply(self, input: Any) -> Any:
        self._shape_info = _hw(type(self).__name__, self._get_image(input))
        self._flipped = random.numpy_generator().random() < self.prob
        return super().apply(input)

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.flip(image, self.axis)) if self._flipped else image

    _apply_mask = _apply_image

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        if self._flipped:
            extent = self._shape_info[self.axis]
            column = 0 if self.axis == 1 else 1
            coords[:, column] = extent - coords[:, column]
        return coords


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability ``prob``.

    >>> RandomHorizontalFlip(1.0).apply(np.arange(3).reshape(1, 3, 1))[0, :, 0].tolist()
    [2, 1, 0]
    """

    axis = 1


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability ``prob``.

    >>> RandomVerticalFlip(1.0).apply(np.arange(3).reshape(3, 1, 1))[:, 0, 0].tolist()
    [2, 1, 0]
    """

    axis = 0
