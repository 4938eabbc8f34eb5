"""ImageFolder and ImageNet's folder layout: classes from folders, images decoded BGR."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from graphc.data.dataset import ImageFolder, ImageNet


def _png(path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)  # Pillow writes the file: an independent encoder


def test_image_folder_classes_labels_and_bgr_pixels(tmp_path) -> None:
    rng = np.random.default_rng(0)
    red = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    _png(tmp_path / "dog" / "b.png", red)
    _png(tmp_path / "cat" / "nested" / "a.png", red[::-1].copy())
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path)
    assert ds.meta == {"class_to_idx": {"cat": 0, "dog": 1}} and len(ds) == 2
    image, label = ds[1]
    np.testing.assert_array_equal(image, red[..., ::-1])  # decoded as BGR
    assert label == 1 and label.dtype == np.int32
    assert ImageFolder(tmp_path, class_name=True)[0][1] == "cat"


def test_imagenet_folder_layout_and_meta(tmp_path) -> None:
    pixels = np.zeros((2, 2, 3), np.uint8)
    for wnid in ("n02", "n01"):
        _png(tmp_path / "val" / wnid / f"{wnid}_0.JPEG.png", pixels)
    (tmp_path / "LOC_synset_mapping.txt").write_text("n01 tench, Tinca tinca\nn02 goldfish\n")
    val = ImageNet(tmp_path, train=False)
    assert [label for _, label in val.samples] == [0, 1]
    assert val.meta["wnid_to_classes"] == {"n01": ("tench", "Tinca tinca"),
                                           "n02": ("goldfish",)}
    with pytest.raises(FileNotFoundError, match="no public download.*train"):
        ImageNet(tmp_path, train=True)
