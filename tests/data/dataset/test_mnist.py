"""MNIST from gzip idx files written in the published format, read from a folder and
downloaded from a loopback server (checksums, offline errors, bad headers)."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from graphc.data.dataset import MNIST, DownloadError
from graphc.data.dataset import mnist as mnist_module

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = np.array([3, 1, 4, 1, 5], np.uint8)


def _idx_bytes(magic: int, data: np.ndarray) -> bytes:
    # The idx format: big-endian int32 magic, then one big-endian int32 per dimension.
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in data.shape)
    return gzip.compress(header + data.tobytes(), mtime=0)


def _write_split(folder, split: str = "t10k") -> dict[str, str]:
    """Write one split's two files; return their MD5s."""
    files = {f"{split}-images-idx3-ubyte.gz": _idx_bytes(2051, IMAGES),
             f"{split}-labels-idx1-ubyte.gz": _idx_bytes(2049, LABELS)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: hashlib.md5(data).hexdigest() for name, data in files.items()}


def _serve_as_published(monkeypatch, base_url: str, md5s: dict[str, str]) -> None:
    monkeypatch.setattr(MNIST, "url_path", (base_url,))
    monkeypatch.setattr(mnist_module, "_FILES", {**mnist_module._FILES, **md5s})


def test_reads_idx_files_with_meta(tmp_path) -> None:
    _write_split(tmp_path)
    test = MNIST(tmp_path, train=False, download=False, check_md5=False)
    assert len(test) == 5
    image, label = test[2]
    assert image.shape == (28, 28, 1) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 0], IMAGES[2])
    assert label == 4 and label.dtype == np.int32
    assert test.meta == {"images": {"magic": 2051, "imgs": 5, "height": 28, "width": 28},
                         "labels": {"magic": 2049, "imgs": 5}}


def test_published_md5_is_checked_for_files_found(tmp_path) -> None:
    _write_split(tmp_path)
    with pytest.raises(ValueError, match="not the published file.*check_md5=False"):
        MNIST(tmp_path, train=False, download=False)


def test_download_from_a_server(monkeypatch, tmp_path, served) -> None:
    folder, url = served
    _serve_as_published(monkeypatch, url, _write_split(folder, "train"))
    root = tmp_path / "root"
    train = MNIST(root, train=True, download=True)
    np.testing.assert_array_equal(train.arrays[0][..., 0], IMAGES)
    np.testing.assert_array_equal(train.arrays[1], LABELS)
    assert sorted(p.name for p in root.iterdir()) == ["train-images-idx3-ubyte.gz",
                                                       "train-labels-idx1-ubyte.gz"]


def test_checksum_failure_keeps_nothing(monkeypatch, tmp_path, served) -> None:
    folder, url = served
    md5s = _write_split(folder, "train")
    md5s["train-images-idx3-ubyte.gz"] = "0" * 32  # what the file should have been
    _serve_as_published(monkeypatch, url, md5s)
    root = tmp_path / "root"
    with pytest.raises(ValueError, match="has MD5 [0-9a-f]{32}, expected 0{32}"):
        MNIST(root, download=True)
    assert list(root.iterdir()) == []  # no partial or bad file under any name


def test_offline_error_names_url_and_folder(monkeypatch, tmp_path, closed_port_url) -> None:
    monkeypatch.setattr(MNIST, "url_path", (closed_port_url,))
    root = tmp_path / "root"
    with pytest.raises(DownloadError) as info:
        MNIST(root, train=False, download=True, timeout=5)
    message = str(info.value)
    assert f"{closed_port_url}t10k-images-idx3-ubyte.gz" in message
    assert str(root / "t10k-images-idx3-ubyte.gz") in message
    with pytest.raises(FileNotFoundError, match="download=True"):
        MNIST(root, train=False, download=False)


def test_header_claims_are_checked(tmp_path) -> None:
    _write_split(tmp_path)
    bad = struct.pack(">4i", 2051, 6, 28, 28) + IMAGES.tobytes()  # claims 6, holds 5
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bad))
    with pytest.raises(ValueError, match="header claims"):
        MNIST(tmp_path, train=False, download=False, check_md5=False)
    huge = struct.pack(">4i", 2051, 2**31 - 1, 28, 28)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(huge))
    with pytest.raises(ValueError, match="out of range"):
        MNIST(tmp_path, train=False, download=False, check_md5=False)
    # Each size in range, their product 2**64: int64 arithmetic would wrap it to 0.
    wraps = struct.pack(">4i", 2051, 2**21, 2**21, 2**22)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(wraps))
    with pytest.raises(ValueError, match="out of range"):
        MNIST(tmp_path, train=False, download=False, check_md5=False)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(_idx_bytes(2049, LABELS))
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        MNIST(tmp_path, train=False, download=False, check_md5=False)
