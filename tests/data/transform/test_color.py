"""Colour and noise transforms against their formulas: each output is solved for its
random factor, which must be one factor for every pixel and lie in the documented range;
luma uses OpenCV's published BGR weights, hue is checked with Python's colorsys."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

import graphc
import graphc.data.transform as T

RNG = np.random.default_rng(4)
# Values away from 0 and 255, so no factor below pushes them out and clipping stays off.
IMAGE = RNG.uniform(60, 180, (5, 6, 3))
GRAY = IMAGE @ np.array([0.114, 0.587, 0.299])  # BGR luma (ITU-R 601, OpenCV's weights)


def _one_factor(out: np.ndarray, image: np.ndarray, toward: np.ndarray) -> float:
    """The ``a`` with ``out = image * a + toward * (1 - a)`` at every pixel."""
    a = (out - toward) / (image - toward)
    np.testing.assert_allclose(a, a.flat[0], rtol=1e-9)
    return float(a.flat[0])


@pytest.mark.parametrize("kind, toward", [
    (T.BrightnessTransform, np.zeros_like(IMAGE)),
    (T.ContrastTransform, np.full_like(IMAGE, GRAY.mean())),
    (T.SaturationTransform, np.repeat(GRAY[..., None], 3, axis=2)),
])
def test_colour_transforms_blend_by_one_factor_in_range(kind, toward) -> None:
    graphc.random.seed(0)
    factors = [_one_factor(kind(0.4).apply(IMAGE), IMAGE, toward) for _ in range(30)]
    assert 0.6 <= min(factors) and max(factors) <= 1.4 and np.std(factors) > 0.1
    assert kind(0).apply(IMAGE) is IMAGE
    with pytest.raises(ValueError, match="non-negative"):
        kind(-1)


def test_uint8_images_are_clipped_and_keep_their_dtype() -> None:
    bright = np.full((2, 2, 3), 250, np.uint8)
    graphc.random.seed(1)
    outs = [T.BrightnessTransform(0.5).apply(bright) for _ in range(20)]
    assert all(o.dtype == np.uint8 for o in outs)
    assert max(int(o.max()) for o in outs) == 255  # factors above 1 clip at 255


def _hsv(image_bgr: np.ndarray) -> np.ndarray:
    rgb = image_bgr[..., ::-1].reshape(-1, 3) / 255.0
    return np.array([colorsys.rgb_to_hsv(*p) for p in rgb])


def test_hue_turns_every_pixel_by_one_angle() -> None:
    image = RNG.integers(40, 220, (6, 6, 3), dtype=np.uint8)
    graphc.random.seed(2)
    before = _hsv(image)
    saturated = before[:, 1] > 0.3  # hue is ill-defined near grey
    shifts = []
    for _ in range(10):
        after = _hsv(T.HueTransform(0.2).apply(image))
        np.testing.assert_allclose(after[:, 2], before[:, 2], atol=2 / 255)  # value kept
        turn = (after[saturated, 0] - before[saturated, 0] + 0.5) % 1.0 - 0.5
        assert np.ptp(turn) < 0.03  # one angle for all pixels (8-bit HSV rounding)
        shifts.append(np.median(turn))
    assert max(np.abs(shifts)) <= 0.2 + 0.01 and np.std(shifts) > 0.02
    grey = np.full((2, 2, 3), 77, np.uint8)
    np.testing.assert_array_equal(T.HueTransform(0.5).apply(grey), grey)
    with pytest.raises(ValueError, match=r"\[0, 0.5\]"):
        T.HueTransform(0.7)


def test_lighting_adds_pca_noise_of_the_given_scale() -> None:
    graphc.random.seed(3)
    scale = 0.1
    alphas = []
    for _ in range(300):
        offset = T.Lighting(scale).apply(IMAGE) - IMAGE
        np.testing.assert_allclose(offset, np.broadcast_to(offset[0, 0], offset.shape),
                                   atol=1e-9)  # one colour shift for every pixel
        alphas.append(np.linalg.solve(T.Lighting.eigvec, offset[0, 0]) / T.Lighting.eigval)
    np.testing.assert_allclose(np.std(alphas, axis=0), scale * 255, rtol=0.15)
    np.testing.assert_allclose(np.mean(alphas, axis=0), 0, atol=scale * 255 * 0.25)


def test_gaussian_noise_moments_and_clipping() -> None:
    graphc.random.seed(4)
    flat = np.full((100, 100, 1), 128.0)
    noise = T.GaussianNoise(mean=0.01, std=0.02).apply(flat) - flat
    assert abs(noise.mean() - 0.01 * 255) < 0.1 and abs(noise.std() - 0.02 * 255) < 0.1
    black = np.zeros((50, 50, 1), np.uint8)
    out = T.GaussianNoise(std=0.1).apply(black)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() > 0


def test_color_jitter_is_its_parts_in_a_random_order_and_repeats_under_a_seed() -> None:
    graphc.random.seed(5)
    only = T.ColorJitter(brightness=0.3)
    _one_factor(only.apply(IMAGE), IMAGE, np.zeros_like(IMAGE))
    jitter = T.ColorJitter(0.3, 0.3, 0.3, 0.1)
    image = IMAGE.astype(np.uint8)
    graphc.random.seed(6)
    first = [jitter.apply(image) for _ in range(3)]
    graphc.random.seed(6)
    again = [jitter.apply(image) for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
