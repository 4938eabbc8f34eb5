"""graphc.save / graphc.load: round trips, safety, atomic writes, clear errors."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import graphc
import graphc.optimizer as optim
from graphc import serialization


def _tree():
    return {
        "model": {"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                  "fc.bias": np.zeros(2, np.float16),
                  "bn.count": np.array(7, np.int64)},
        "epoch": 3, "lr": 0.05, "name": "run-1", "done": False, "note": None,
        "milestones": [2, 5], "betas": (0.9, 0.999), "scale": np.float32(1.5),
        "inf": float("inf"), 7: "int key",
    }


def _assert_same(a, b) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_round_trip_keeps_structure_types_and_dtypes(tmp_path) -> None:
    path = tmp_path / "ckpt.gc"
    graphc.save(_tree(), path)
    _assert_same(_tree(), graphc.load(path))
    assert graphc.load(str(path))["model"]["fc.bias"].dtype == np.float16


def test_tensors_save_as_arrays(tmp_path) -> None:
    w = graphc.Parameter([[1., 2.], [3., 4.]])
    graphc.save({"w": w * 2}, tmp_path / "t.gc")
    loaded = graphc.load(tmp_path / "t.gc")["w"]
    assert isinstance(loaded, np.ndarray)
    np.testing.assert_array_equal(loaded, [[2., 4.], [6., 8.]])


def test_optimizer_state_round_trip_resumes(tmp_path) -> None:
    w = graphc.Parameter(np.ones(3, np.float32))
    opt = optim.Adam([w], lr=0.1)
    w.grad = graphc.tensor([1., -2., 3.])
    opt.step()
    graphc.save(opt.state_dict(), tmp_path / "opt.gc")
    w2 = graphc.Parameter(w.numpy())
    opt2 = optim.Adam([w2], lr=0.1)
    opt2.load_state_dict(graphc.load(tmp_path / "opt.gc"))
    for p, o in ((w, opt), (w2, opt2)):
        p.grad = graphc.tensor([0.5, 0.5, -1.])
        o.step()
    np.testing.assert_array_equal(w.numpy(), w2.numpy())
    assert opt2.state[w2]["step"] == 2


def test_file_objects(tmp_path) -> None:
    buf = io.BytesIO()
    graphc.save({"a": np.ones(2)}, buf)
    buf.seek(0)
    np.testing.assert_array_equal(graphc.load(buf)["a"], np.ones(2))


def test_truncated_file_gives_a_clear_error(tmp_path) -> None:
    path = tmp_path / "ckpt.gc"
    graphc.save(_tree(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        graphc.load(path)


@pytest.mark.parametrize("content, match", [
    (b"hello, not a checkpoint", "not a file written by graphc.save"),
    (b"", "not a file written by graphc.save"),
])
def test_foreign_bytes_give_a_clear_error(tmp_path, content, match) -> None:
    path = tmp_path / "foreign"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        graphc.load(path)


def test_plain_npz_and_npy_are_rejected(tmp_path) -> None:
    np.savez(tmp_path / "plain.npz", w=np.ones(2))
    with pytest.raises(ValueError, match="without a graphc manifest"):
        graphc.load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.ones(2))
    with pytest.raises(ValueError, match="single .npy"):
        graphc.load(tmp_path / "single.npy")


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > should_not_exist",))


def test_pickles_are_never_executed(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"w": _Boom()}))
    np.savez(tmp_path / "evil.npz", w=np.array([_Boom()], dtype=object))
    for name, why in (("evil.pkl", "not an .npz"), ("evil.npz", "pickled Python objects")):
        with pytest.raises(ValueError, match=why):
            graphc.load(tmp_path / name)
    assert not (tmp_path / "should_not_exist").exists()


def test_corrupt_manifest(tmp_path) -> None:
    path = tmp_path / "bad.gc"
    manifest = b'{"format": "graphc.save", "version": 1, "root": {"array": "a9"}}'
    np.savez(path, __graphc_manifest__=np.frombuffer(manifest, np.uint8))
    with pytest.raises(ValueError, match="missing array"):
        graphc.load(str(path) + ".npz")
    newer = b'{"format": "graphc.save", "version": 99, "root": null}'
    np.savez(tmp_path / "new.npz", __graphc_manifest__=np.frombuffer(newer, np.uint8))
    with pytest.raises(ValueError, match="version 99"):
        graphc.load(tmp_path / "new.npz")


def test_unsavable_objects_are_named(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"obj\['model'\]\['f'\] is a function"):
        graphc.save({"model": {"f": lambda: 0}}, tmp_path / "x.gc")
    with pytest.raises(TypeError, match="Python objects"):
        graphc.save({"a": np.array([object()])}, tmp_path / "x.gc")
    with pytest.raises(TypeError, match="keys must be str or int"):
        graphc.save({(1, 2): 3}, tmp_path / "x.gc")
    assert not (tmp_path / "x.gc").exists()


def test_writes_are_atomic(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ckpt.gc"
    graphc.save({"v": 1}, path)

    def failing_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(serialization.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        graphc.save({"v": 2}, path)
    monkeypatch.undo()
    assert graphc.load(path) == {"v": 1}  # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ["ckpt.gc"]  # no temporary left behind
    assert zipfile.is_zipfile(path)
