"""MNIST from its published idx files (gzip): ``train-images-idx3-ubyte.gz``, ...

>>> import gzip, os, struct, tempfile, numpy as np
>>> root = tempfile.mkdtemp()
>>> def idx(name, magic, dims, data):
...     with gzip.open(os.path.join(root, name), "wb") as f:
...         f.write(struct.pack(f">{1 + len(dims)}i", magic, *dims) + data.tobytes())
>>> idx("t10k-images-idx3-ubyte.gz", 2051, (2, 28, 28), np.zeros((2, 28, 28), np.uint8))
>>> idx("t10k-labels-idx1-ubyte.gz", 2049, (2,), np.array([7, 1], np.uint8))
>>> test = MNIST(root, train=False, download=False, check_md5=False)
>>> len(test), test[0][0].shape, int(test[1][1]), test.meta["images"]["height"]
(2, (28, 28, 1), 1, 28)
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

from .download import check_md5 as verify_md5
from .download import dataset_root, fetch
from .meta_dataset import Dataset

__all__ = ["MNIST", "read_idx"]

# The published files and their MD5s (the same on every mirror).
_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1 dimension; images: 3
_MAX_ITEMS = 10_000_000  # a sanity bound on a file's claimed sizes, checked before reading


def read_idx(path: str | os.PathLike, magic: int) -> tuple[dict, np.ndarray]:
    """The header (``magic``, ``imgs`` and for images ``height``, ``width``) and the
    uint8 data of a gzip idx file; the claimed sizes are checked before any allocation
    and must match the file exactly."""
    name = Path(path).name
    dims_count = _IDX_MAGIC[magic]
    with gzip.open(path, "rb") as f:
        head = f.read(4)
        found = struct.unpack(">i", head)[0] if len(head) == 4 else None
        if found != magic:
            raise ValueError(f"MNIST: {name} has magic number {found}, expected {magic} "
                             f"(an idx{dims_count} file)")
        header = f.read(4 * dims_count)
        if len(header) < 4 * dims_count:
            raise ValueError(f"MNIST: {name} is too short for an idx header")
        dims = list(struct.unpack(f">{dims_count}i", header))
        size = math.prod(dims)  # a Python int: no int64 wrap-around for huge claims
        if not all(0 <= d <= _MAX_ITEMS for d in dims) or size > _MAX_ITEMS * 28 * 28:
            raise ValueError(f"MNIST: {name} claims sizes {dims}, out of range")
        data = f.read(size + 1)
    if len(data) != size:
        raise ValueError(f"MNIST: {name} holds {len(data)}{'+' if len(data) > size else ''} "
                         f"bytes of data, its header claims {dims} = {size}")
    meta = {"magic": magic, "imgs": dims[0]}
    if dims_count == 3:
        meta.update(height=dims[1], width=dims[2])
    # A writable copy: items are ordinary arrays a user's transform may change in place.
    return meta, np.frombuffer(data, dtype=np.uint8).reshape(dims).copy()


class MNIST(Dataset):
    """The MNIST digits: item ``i`` is ``(image, label)``, the image ``28 x 28 x 1``
    uint8 (HWC, as MegEngine gives it), the label an int32.

    ``root`` is the folder holding the four ``.gz`` idx files (default
    ``default_root()/MNIST``); ``train`` picks the 60,000 training or 10,000 test digits;
    ``download=True`` fetches missing files (checked against their published MD5s).
    ``.meta`` holds the idx headers: ``{"images": {"magic", "imgs", "height", "width"},
    "labels": {"magic", "imgs"}}``. ``check_md5=False`` accepts files that are not the
    published ones (your own idx files).
    """

    url_path = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                "http://yann.lecun.com/exdb/mnist/")
    raw_file_name = list(_FILES)
    raw_file_md5 = list(_FILES.values())

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True, timeout: float = 500, *,
                 check_md5: bool = True) -> None:
        self.root = dataset_root("MNIST", root, download)
        self.train = train
        split = "train" if train else "t10k"
        names = [f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"]
        for name in names:
            path = self.root / name
            if not path.is_file():
                if not download:
                    raise FileNotFoundError(
                        f"MNIST: {path} is missing; pass download=True, or download it by "
                        f"hand from {self.url_path[0]}{name} and put it there")
                fetch("MNIST", [base + name for base in self.url_path], path, _FILES[name],
                      timeout)
            elif check_md5:
                verify_md5("MNIST", path, _FILES[name], "delete it to download it again, or "
                           "pass check_md5=False for your own idx files")
        image_meta, images = read_idx(self.root / names[0], 2051)
        label_meta, labels = read_idx(self.root / names[1], 2049)
        if len(images) != len(labels):
            raise ValueError(f"MNIST: {len(images)} images but {len(labels)} labels in "
                             f"{self.root}")
        self._meta_data = {"images": image_meta, "labels": label_meta}
        self.arrays = (images[..., np.newaxis], labels.astype(np.int32))

    @property
    def meta(self) -> dict:
        """The idx headers of the image and label files."""
        return self._meta_data

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int32]:
        return self.arrays[0][index], self.arrays[1][index]

    def __len__(self) -> int:
        return len(self.arrays[1])
