"""Geometric and layout transforms against NumPy references (bilinear and nearest
resizing written out here, crops as slices, pads as np.pad), fields moving together."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphc
import graphc.data.transform as T

RNG = np.random.default_rng(3)


def _axis(n_out: int, n_in: int):
    # Half-pixel centres, clamped at the edges (OpenCV's INTER_LINEAR, also downscaling).
    x = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
    x0 = np.minimum(np.floor(x).astype(int), n_in - 1)
    return x0, np.minimum(x0 + 1, n_in - 1), x - np.floor(x)


def bilinear(image: np.ndarray, th: int, tw: int) -> np.ndarray:
    y0, y1, fy = _axis(th, image.shape[0])
    x0, x1, fx = _axis(tw, image.shape[1])
    fy, fx = fy[:, None, None], fx[None, :, None]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def nearest(image: np.ndarray, th: int, tw: int) -> np.ndarray:
    ys = np.minimum(np.floor(np.arange(th) * image.shape[0] / th).astype(int),
                    image.shape[0] - 1)
    xs = np.minimum(np.floor(np.arange(tw) * image.shape[1] / tw).astype(int),
                    image.shape[1] - 1)
    return image[ys][:, xs]


@pytest.mark.parametrize("size", [(9, 14), (3, 4), (6, 5)])
def test_resize_is_bilinear_and_masks_nearest(size) -> None:
    image = RNG.random((6, 7, 3)).astype(np.float32)
    mask = RNG.integers(0, 5, (6, 7, 1), dtype=np.uint8)
    out, out_mask, label = T.Resize(size, order=("image", "mask")).apply((image, mask, 9))
    np.testing.assert_allclose(out, bilinear(image, *size), atol=1e-5)
    np.testing.assert_array_equal(out_mask, nearest(mask, *size))
    assert out_mask.shape == (*size, 1) and label == 9


def test_resize_uint8_within_rounding_and_int_size_is_the_shorter_side() -> None:
    image = RNG.integers(0, 256, (5, 8, 3), dtype=np.uint8)
    out = T.Resize((10, 16)).apply(image)
    assert out.dtype == np.uint8
    np.testing.assert_allclose(out, bilinear(image.astype(np.float64), 10, 16), atol=1)
    assert T.Resize(10).apply(image).shape == (10, 16, 3)
    assert T.Resize(10).apply(image.transpose(1, 0, 2)).shape == (16, 10, 3)
    assert T.Resize(5).apply(image) is image
    assert T.Resize((4, 4), interpolation="nearest").apply(image).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="Resize: interpolation"):
        T.Resize(4, interpolation="fancy")


def test_resize_moves_coords_and_boxes() -> None:
    image = np.zeros((4, 8, 1), np.float32)
    coords = np.array([[2.0, 1.0]])
    boxes = np.array([[1.0, 1.0, 4.0, 3.0]])
    _, c, b = T.Resize((8, 4), order=("image", "coords", "boxes")).apply((image, coords, boxes))
    np.testing.assert_allclose(c, [[1.0, 2.0]])
    np.testing.assert_allclose(b, [[0.5, 2.0, 2.0, 6.0]])


def test_shortest_edge_resize_bounds_the_longer_side() -> None:
    image = np.zeros((20, 30, 1), np.uint8)
    assert T.ShortestEdgeResize(40, 100).apply(image).shape == (40, 60, 1)
    assert T.ShortestEdgeResize(40, 50).apply(image).shape == (33, 50, 1)  # 30 * 50/30
    graphc.random.seed(0)
    shapes = {T.ShortestEdgeResize((10, 12), 1000).apply(image).shape[0] for _ in range(40)}
    assert shapes == {10, 11, 12}
    shapes = {T.ShortestEdgeResize((10, 16), 1000, sample_style="choice").apply(image).shape[0]
              for _ in range(40)}
    assert shapes == {10, 16}


def test_random_resize_scales_both_sides_by_one_factor() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    graphc.random.seed(1)
    for _ in range(20):
        h, w, _ = T.RandomResize((0.5, 1.5)).apply(image).shape
        assert 10 <= h <= 30 and abs(w - 2 * h) <= 1


def test_to_mode_and_normalize() -> None:
    image = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(T.ToMode("CHW").apply(image), image.transpose(2, 0, 1))
    assert T.ToMode("CHW").apply(image[..., 0]).shape == (1, 4, 5)
    mean, std = [10.0, 20.0, 30.0], [2.0, 4.0, 8.0]
    out = T.Normalize(mean, std).apply(image)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (image - np.float32(mean)) / np.float32(std), rtol=1e-6)
    with pytest.raises(ValueError, match="std must not be 0"):
        T.Normalize(0, 0)


def test_pad_with_per_channel_values_and_coords() -> None:
    image = RNG.integers(0, 256, (3, 4, 2), dtype=np.uint8)
    mask = np.ones((3, 4, 1), np.uint8)
    out, c, m = T.Pad((1, 2, 3, 4), value=[7, 9], mask_value=5,
                      order=("image", "coords", "mask")).apply((image, np.array([[0., 0.]]), mask))
    expected = np.stack([np.pad(image[..., k], ((1, 2), (3, 4)), constant_values=v)
                         for k, v in enumerate([7, 9])], axis=-1)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(m[..., 0], np.pad(mask[..., 0], ((1, 2), (3, 4)),
                                                    constant_values=5))
    np.testing.assert_allclose(c, [[3.0, 1.0]])  # x moves by left, y by top


def test_center_crop_is_the_middle_slice() -> None:
    image = np.arange(7 * 6).reshape(7, 6, 1)
    np.testing.assert_array_equal(T.CenterCrop((3, 2)).apply(image), image[2:5, 2:4])
    with pytest.raises(ValueError, match=r"output size \(8, 2\) is larger"):
        T.CenterCrop((8, 2)).apply(image)


def _marked(h: int, w: int, y: int, x: int) -> np.ndarray:
    image = np.zeros((h, w, 1), np.float32)
    image[y, x] = 1.0
    return image


def test_random_crop_moves_the_image_and_its_coords_together() -> None:
    graphc.random.seed(2)
    image = RNG.random((9, 9, 1)).astype(np.float32)
    seen = set()
    for _ in range(30):
        crop = T.RandomCrop(4, padding_size=1).apply(image)
        padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
        windows = [(y, x) for y in range(8) for x in range(8)
                   if np.array_equal(padded[y:y + 4, x:x + 4], crop)]
        assert len(windows) == 1
        seen.add(windows[0])
    assert len(seen) > 10  # the windows vary
    marked = _marked(9, 9, 4, 5)
    out, coords = T.RandomCrop(6, order=("image", "coords")).apply((marked, np.array([[5., 4.]])))
    y, x = np.unravel_index(out[..., 0].argmax(), out.shape[:2])
    np.testing.assert_allclose(coords, [[x, y]])


def test_flips() -> None:
    image = RNG.random((3, 4, 2))
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0).apply(image), image[:, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(1.0).apply(image), image[::-1])
    assert T.RandomHorizontalFlip(0.0).apply(image) is image
    _, c = T.RandomHorizontalFlip(1.0, order=("image", "coords")).apply(
        (image, np.array([[1.0, 2.0]])))
    np.testing.assert_allclose(c, [[3.0, 2.0]])  # x -> width - x
    graphc.random.seed(3)
    flips = sum(T.RandomVerticalFlip().apply(image)[0, 0, 0] != image[0, 0, 0]
                for _ in range(400))
    assert 160 < flips < 240  # prob 0.5: mean 200, sd 10


def test_random_resized_crop() -> None:
    image = RNG.random((12, 16, 3)).astype(np.float32)
    whole = T.RandomResizedCrop((6, 8), scale_range=(1, 1), ratio_range=(4 / 3, 4 / 3))
    np.testing.assert_allclose(whole.apply(image), bilinear(image, 6, 8), atol=1e-5)
    graphc.random.seed(4)
    outs = [T.RandomResizedCrop(5).apply(image) for _ in range(5)]
    assert all(o.shape == (5, 5, 3) for o in outs)
    graphc.random.seed(4)
    again = [T.RandomResizedCrop(5).apply(image) for _ in range(5)]
    for a, b in zip(outs, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[0], outs[1])


def test_compose_shuffles_the_listed_transforms() -> None:
    class Add(T.Transform):
        def apply(self, x):
            return x + 1

    class Double(T.Transform):
        def apply(self, x):
            return x * 2

    graphc.random.seed(5)
    results = {T.Compose([Add(), Double()], shuffle_indices=[(1, 2)]).apply(3)
               for _ in range(40)}
    assert results == {8, 7}
    assert T.Compose([Add(), Double()]).apply_batch([1, 2]) == (4, 6)
    with pytest.raises(ValueError, match="count from 1"):
        T.Compose([Add()], shuffle_indices=[(0,)])


def test_order_passes_categories_and_extra_fields_through() -> None:
    image = np.ones((2, 2, 1), np.float32)
    out = T.Normalize(1.0, order=("image", "image_category")).apply((image, 4, "extra"))
    assert out[1:] == (4, "extra") and (out[0] == 0).all()
    with pytest.raises(NotImplementedError, match="ToMode cannot transform the field 'depth'"):
        T.ToMode(order=("image", "depth"))


def test_missing_opencv_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(ImportError, match=r"Resize needs OpenCV.*graphc\[vision\]"):
        T.Resize((2, 2)).apply(np.zeros((4, 4, 1), np.uint8))
