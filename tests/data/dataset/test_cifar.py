"""CIFAR-10/100 from archives written in the published binary format: reading, BGR
images, labels, .meta, download with checksum, and the pickled version refused."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest

from graphc.data.dataset import CIFAR10, CIFAR100

RNG = np.random.default_rng(1)


def _records(images_rgb: np.ndarray, *labels: np.ndarray) -> bytes:
    # One record: the label byte(s), then the R, G and B planes of 32x32 pixels each.
    planes = images_rgb.transpose(0, 3, 1, 2).reshape(len(images_rgb), -1)
    return np.concatenate([*(lab[:, None] for lab in labels), planes], axis=1).astype(
        np.uint8).tobytes()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _cifar10_archive(n: int = 3):
    """The archive bytes and, per split, the RGB images and labels in it."""
    splits, members = {}, {}
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        images = RNG.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = RNG.integers(0, 10, n, dtype=np.uint8)
        splits[name] = images, labels
        members[f"cifar-10-batches-bin/{name}"] = _records(images, labels)
    label_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
    members["cifar-10-batches-bin/batches.meta.txt"] = ("\n".join(label_names) + "\n\n").encode()
    return _tar_gz(members), splits, label_names


def test_cifar10_binary_archive(monkeypatch, tmp_path) -> None:
    archive, splits, label_names = _cifar10_archive()
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(archive)
    monkeypatch.setattr(CIFAR10, "raw_file_md5", hashlib.md5(archive).hexdigest())
    train = CIFAR10(tmp_path, train=True, download=False)
    test = CIFAR10(tmp_path, train=False, download=False)
    assert len(train) == 15 and len(test) == 3
    assert train.meta == {"label_names": label_names}
    rgb, labels = splits["data_batch_2.bin"]
    image, label = train[3 + 1]  # the second record of the second batch
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, rgb[1][..., ::-1])  # BGR, as MegEngine's
    assert label == labels[1] and label.dtype == np.int32
    np.testing.assert_array_equal(test[2][0], splits["test_batch.bin"][0][2][..., ::-1])


def test_cifar10_download_and_checksum(monkeypatch, tmp_path, served) -> None:
    folder, url = served
    archive, splits, _ = _cifar10_archive(2)
    (folder / "cifar-10-binary.tar.gz").write_bytes(archive)
    monkeypatch.setattr(CIFAR10, "url_path", (url,))
    with pytest.raises(ValueError, match="has MD5"):  # the published MD5 is not this file's
        CIFAR10(tmp_path / "a", download=True)
    assert list((tmp_path / "a").iterdir()) == []
    monkeypatch.setattr(CIFAR10, "raw_file_md5", hashlib.md5(archive).hexdigest())
    test = CIFAR10(tmp_path / "a", train=False, download=True)
    np.testing.assert_array_equal(test[1][0], splits["test_batch.bin"][0][1][..., ::-1])


def test_pickled_only_version_is_refused_with_the_way_to_the_binary_one(tmp_path) -> None:
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"a pickle graphc must not load")
    with pytest.raises(FileNotFoundError) as info:
        CIFAR10(tmp_path, download=False)
    message = str(info.value)
    assert "pickled python version" in message and "never unpickles" in message
    assert "cifar-10-binary.tar.gz" in message and CIFAR10.raw_file_md5 in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in message


def test_cifar100_fine_and_coarse_labels_from_an_extracted_folder(tmp_path) -> None:
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    images = RNG.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    coarse = np.array([0, 19, 5, 7], np.uint8)
    fine = np.array([99, 3, 50, 0], np.uint8)
    (folder / "test.bin").write_bytes(_records(images, coarse, fine))
    (folder / "fine_label_names.txt").write_text("\n".join(f"f{i}" for i in range(100)))
    (folder / "coarse_label_names.txt").write_text("\n".join(f"c{i}" for i in range(20)))
    test = CIFAR100(tmp_path, train=False, download=False)
    image, fine_label, coarse_label = test[1]
    np.testing.assert_array_equal(image, images[1][..., ::-1])
    assert (fine_label, coarse_label) == (3, 19)
    assert test.meta["fine_label_names"][99] == "f99"
    assert len(test.meta["coarse_label_names"]) == 20
    (folder / "test.bin").write_bytes(b"\0" * 3075)  # not whole 3074-byte records
    with pytest.raises(ValueError, match="3074-byte records"):
        CIFAR100(tmp_path, train=False, download=False)
