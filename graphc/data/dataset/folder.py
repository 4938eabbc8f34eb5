"""Image datasets laid out as folders: one sub-folder per class (``ImageFolder``), and
ImageNet's ``train/`` and ``val/`` folders of that layout (``ImageNet``).

Images are decoded with OpenCV (graphc's ``vision`` extra) into ``H x W x 3`` uint8 BGR
arrays, as MegEngine's ``cv2.imread`` gives them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..transform.cv import load_cv2
from .download import default_root
from .meta_dataset import Dataset

__all__ = ["IMG_EXTENSIONS", "ImageFolder", "ImageNet", "is_img"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def is_img(path: str) -> bool:
    """Whether ``path`` names an image by its extension.

    >>> is_img("a/b.JPEG"), is_img("notes.txt")
    (True, False)
    """
    return path.lower().endswith(IMG_EXTENSIONS)


class ImageFolder(Dataset):
    """Images in ``root/<class>/**/<file>``: item ``i`` is ``(image, label)`` with
    classes numbered in sorted folder order (int32), or ``(image, class_name)`` with
    ``class_name=True``. ``check_valid_func(path)`` picks the files (default: image
    extensions). ``.meta``: ``{"class_to_idx": {...}}``.

    >>> import tempfile, os
    >>> root = tempfile.mkdtemp(); os.makedirs(os.path.join(root, "cat"))
    >>> ImageFolder(root).meta
    {'class_to_idx': {'cat': 0}}
    """

    def __init__(self, root: str | os.PathLike, check_valid_func: Callable[[str], bool] | None
                 = None, class_name: bool = False) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{type(self).__name__}: folder {self.root} does not "
                                    f"exist (expected one sub-folder of images per class)")
        self.check_valid = check_valid_func or is_img
        self.class_name = class_name
        self.class_dict = self.collect_class()
        self.samples = self.collect_samples()

    def collect_class(self) -> dict[str, np.int32]:
        """Each class folder's label: its position in sorted order."""
        classes = sorted(d.name for d in os.scandir(self.root) if d.is_dir())
        return {name: np.int32(i) for i, name in enumerate(classes)}

    def collect_samples(self) -> list[tuple[str, Any]]:
        """``(path, label or class name)`` of every valid file, in sorted order."""
        samples = []
        for name in self.class_dict:
            for folder, subfolders, files in os.walk(self.root / name, followlinks=True):
                subfolders.sort()
                for file in sorted(files):
                    path = os.path.join(folder, file)
                    if self.check_valid(path):
                        samples.append((path, name if self.class_name else self.class_dict[name]))
        return samples

    @property
    def meta(self) -> dict:
        return {"class_to_idx": {name: int(i) for name, i in self.class_dict.items()}}

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        path, label = self.samples[index]
        cv2 = load_cv2(type(self).__name__)
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{type(self).__name__}: cannot decode the image {path}")
        return image, label

    def __len__(self) -> int:
        return len(self.samples)


class ImageNet(ImageFolder):
    """ImageNet (ILSVRC2012) in its folder layout: ``root/train/<wnid>/*.JPEG`` and
    ``root/val/<wnid>/*.JPEG`` (the validation images sorted into class folders, as
    the usual preparation scripts leave them); ``train`` picks the split. ImageNet has
    no public download: put the folders there by hand.

    ``.meta`` is ``{"class_to_idx": {wnid: label}, "wnid_to_classes": {wnid: (name,
    ...)}}``; the names come from ``LOC_synset_mapping.txt`` in ``root`` (lines
    ``n01440764 tench, Tinca tinca``) when present, else each wnid names itself.
    """

    default_train_dir = "train"
    default_val_dir = "val"
    synset_file = "LOC_synset_mapping.txt"

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 **kwargs: Any) -> None:
        base = default_root() / "ImageNet" if root is None else Path(root).expanduser()
        split = self.default_train_dir if train else self.default_val_dir
        if not (base / split).is_dir():
            raise FileNotFoundError(
                f"ImageNet: {base / split} does not exist; ImageNet has no public download: "
                f"put the {split} images there in one folder per class (wnid), e.g. "
                f"{base / split / 'n01440764' / 'image.JPEG'}")
        self.train = train
        self.base = base
        super().__init__(base / split, **kwargs)

    @property
    def meta(self) -> dict:
        names = {wnid: (wnid,) for wnid in self.class_dict}
        mapping = self.base / self.synset_file
        if mapping.is_file():
            for line in mapping.read_text(encoding="utf-8").splitlines():
                wnid, _, words = line.strip().partition(" ")
                if wnid:
                    names[wnid] = tuple(w.strip() for w in words.split(","))
        return {**super().meta, "wnid_to_classes": names}
