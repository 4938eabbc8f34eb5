"""CIFAR-10 and CIFAR-100 from their published *binary* versions.

graphc never unpickles a file, so it reads ``cifar-10-binary.tar.gz`` (folder
``cifar-10-batches-bin``: records of a label byte and 3072 pixel bytes, R then G then B
planes, and ``batches.meta.txt``) and ``cifar-100-binary.tar.gz`` (``cifar-100-binary``:
a coarse and a fine label byte per record, ``fine_label_names.txt``,
``coarse_label_names.txt``), not the pickled ``python`` versions. The archive is read in
place (members by name, never extracted), or an already extracted folder is used.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from .download import check_md5, dataset_root, fetch
from .meta_dataset import Dataset

__all__ = ["CIFAR10", "CIFAR100"]

_SIDE = 32
_PIXELS = 3 * _SIDE * _SIDE
_MAX_MEMBER = 256 << 20  # the largest member a CIFAR archive has is ~150 MB


class CIFAR10(Dataset):
    """CIFAR-10: item ``i`` is ``(image, label)``, the image ``32 x 32 x 3`` uint8 in BGR
    order (as MegEngine gives it), the label an int32; ``.meta`` is
    ``{"label_names": [...]}``.

    ``root`` holds ``cifar-10-binary.tar.gz`` or its extracted ``cifar-10-batches-bin``
    folder (default ``default_root()/CIFAR10``); ``download=True`` fetches the archive
    (MD5-checked). Only the pickled ``cifar-10-python`` version there is refused, with
    how to get the binary one.
    """

    url_path = ("https://www.cs.toronto.edu/~kriz/",)
    raw_file_name = "cifar-10-binary.tar.gz"
    raw_file_md5 = "c32a1d4ab5d03f1284b67883e8d87530"
    raw_file_dir = "cifar-10-batches-bin"
    pickled_names = ("cifar-10-python.tar.gz", "cifar-10-batches-py")
    train_batch = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_batch = ["test_batch.bin"]
    meta_files = {"label_names": "batches.meta.txt"}
    label_bytes = 1

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True, timeout: float = 500) -> None:
        owner = type(self).__name__
        self.root = dataset_root(owner, root, download)
        self.train = train
        folder = self.root / self.raw_file_dir
        archive = self.root / self.raw_file_name
        if not folder.is_dir():
            if not archive.is_file():
                if not download:
                    raise FileNotFoundError(self._missing_message(archive))
                fetch(owner, [u + self.raw_file_name for u in self.url_path], archive,
                      self.raw_file_md5, timeout)
            else:
                check_md5(owner, archive, self.raw_file_md5,
                          "delete it to download it again")
        members = [*(self.train_batch if train else self.test_batch),
                   *self.meta_files.values()]
        files = self._read_members(folder, archive, members)
        records = [self._records(name, files[name]) for name in members[:-len(self.meta_files)]]
        data = np.concatenate(records)
        rgb = data[:, self.label_bytes:].reshape(-1, 3, _SIDE, _SIDE).transpose(0, 2, 3, 1)
        self.images = np.ascontiguousarray(rgb[..., ::-1])  # BGR, as OpenCV and MegEngine
        self.labels = [data[:, i].astype(np.int32) for i in range(self.label_bytes)]
        self._meta_data = {key: files[name].decode("utf-8").split()
                           for key, name in self.meta_files.items()}

    def _missing_message(self, archive: Path) -> str:
        owner = type(self).__name__
        url = self.url_path[0] + self.raw_file_name
        pickled = [name for name in self.pickled_names if (self.root / name).exists()]
        if pickled:
            return (f"{owner}: {self.root} holds only the pickled python version "
                    f"({', '.join(pickled)}), which graphc does not read (it never unpickles "
                    f"files). Get the binary version: download {url} (MD5 "
                    f"{self.raw_file_md5}) and put it at {archive}, or pass download=True")
        return (f"{owner}: {archive} is missing; pass download=True, or download {url} by "
                f"hand and put it there")

    def _read_members(self, folder: Path, archive: Path, names: list[str]) -> dict:
        """The bytes of ``names`` from the extracted folder, else from the archive."""
        if folder.is_dir():
            files = {}
            for name in names:
                path = folder / name
                if not path.is_file():
                    raise FileNotFoundError(f"{type(self).__name__}: {path} is missing")
                if path.stat().st_size > _MAX_MEMBER:
                    raise ValueError(f"{type(self).__name__}: {path} is too large for "
                                     f"a CIFAR file")
                files[name] = path.read_bytes()
            return files
        wanted = {f"{self.raw_file_dir}/{name}": name for name in names}
        files = {}
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is None or not member.isfile():
                    continue
                if member.size > _MAX_MEMBER:
                    raise ValueError(f"{type(self).__name__}: {member.name} in {archive} "
                                     f"claims {member.size} bytes, too large for CIFAR")
                files[name] = tar.extractfile(member).read()
        missing = sorted(set(names) - set(files))
        if missing:
            raise ValueError(f"{type(self).__name__}: {archive} lacks {missing} (is it the "
                             f"binary version?)")
        return files

    def _records(self, name: str, raw: bytes) -> np.ndarray:
        width = self.label_bytes + _PIXELS
        if len(raw) % width:
            raise ValueError(f"{type(self).__name__}: {name} has {len(raw)} bytes, not a "
                             f"whole number of {width}-byte records")
        return np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)

    @property
    def meta(self) -> dict:
        """The class names."""
        return self._meta_data

    def __getitem__(self, index: int) -> tuple:
        return (self.images[index], *(labels[index] for labels in self.labels))

    def __len__(self) -> int:
        return len(self.images)


class CIFAR100(CIFAR10):
    """CIFAR-100: item ``i`` is ``(image, fine_label, coarse_label)``, the image as in
    :class:`CIFAR10`; ``.meta`` is ``{"fine_label_names": [...], "coarse_label_names":
    [...]}``. ``root`` holds ``cifar-100-binary.tar.gz`` or its extracted
    ``cifar-100-binary`` folder (default ``default_root()/CIFAR100``).
    """

    raw_file_name = "cifar-100-binary.tar.gz"
    raw_file_md5 = "03b5dce01913d631647c71ecec9e9cb8"
    raw_file_dir = "cifar-100-binary"
    pickled_names = ("cifar-100-python.tar.gz", "cifar-100-python")
    train_batch = ["train.bin"]
    test_batch = ["test.bin"]
    meta_files = {"fine_label_names": "fine_label_names.txt",
                  "coarse_label_names": "coarse_label_names.txt"}
    label_bytes = 2

    def __getitem__(self, index: int) -> tuple:
        coarse, fine = self.labels  # a record stores the coarse label first
        return self.images[index], fine[index], coarse[index]
