"""``graphc.save`` / ``graphc.load``: state dicts in a safe, self-describing file.

The file is an ordinary ``.npz`` archive: one ``.npy`` entry per array and a JSON
manifest entry that records the structure (dicts with str/int keys, lists, tuples, None,
bools, ints, floats, strings, and where each array goes). Loading uses
``allow_pickle=False`` and only JSON parsing, so a file can never execute code. Tensors
are saved as their NumPy values and load back as NumPy arrays (which
``Module.load_state_dict`` and ``Optimizer.load_state_dict`` accept).

Writes are atomic: the archive is written to a temporary file in the destination folder,
flushed to disk, then moved over the target with ``os.replace``, so a crash never leaves
a half-written file under the target name. A new file gets the mode the umask gives; an
existing file keeps its own (see :mod:`graphc.fileio`).

Loading checks every size the file declares (arrays, their total, how far a compressed
member expands, how deeply the manifest nests) against :class:`graphc.LoadLimits` before
allocating it, and refuses the file with a ValueError naming the limit when one is over.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.gc")
>>> save({"w": np.arange(3.0), "epoch": 2}, path)
>>> load(path)
{'w': array([0., 1., 2.]), 'epoch': 2}
"""

from __future__ import annotations

import io
import json
import os
from typing import IO, Any

import numpy as np

from .arrayfile import FormatError, read_npz
from .fileio import atomic_write
from .limits import LimitError, LoadLimits, parse_json

__all__ = ["load", "save"]

FORMAT = "graphc.save"
VERSION = 1
_MANIFEST = "__graphc_manifest__"


class _Encoder:
    """Turns an object tree into a JSON-able manifest plus named arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, value: np.ndarray, where: str) -> str:
        if value.dtype.hasobject:
            raise TypeError(f"graphc.save: {where} is an array of Python objects, which "
                            f"cannot be saved safely")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = np.asarray(value, order="C")  # keeps 0-d arrays 0-d
        return name

    def encode(self, value: Any, where: str) -> Any:
        from .tensor import Tensor

        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value
        if isinstance(value, Tensor):
            return {"array": self._array(value.numpy(), where)}
        if isinstance(value, np.ndarray):
            return {"array": self._array(value, where)}
        if isinstance(value, np.generic):
            return {"scalar": self._array(np.asarray(value), where)}
        if isinstance(value, list):
            return {"list": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, tuple):
            return {"tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            items = []
            for key, v in value.items():
                if isinstance(key, np.integer):
                    key = int(key)
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(f"graphc.save: {where} has a key {key!r} of type "
                                    f"{type(key).__name__}; keys must be str or int")
                items.append([key, self.encode(v, f"{where}[{key!r}]")])
            return {"dict": items}
        raise TypeError(f"graphc.save: {where} is a {type(value).__name__}; only dicts, "
                        f"lists, tuples, arrays, Tensors, numbers, strings and None can be "
                        f"saved")


def save(obj: Any, path: str | os.PathLike | IO[bytes]) -> None:
    """Save a state dict (or any tree of dicts, lists, arrays, Tensors and numbers).

    ``path`` is a file name (written atomically) or a binary file object.

    >>> import io
    >>> buf = io.BytesIO(); save({"step": 3}, buf); _ = buf.seek(0); load(buf)
    {'step': 3}
    """
    encoder = _Encoder()
    root = encoder.encode(obj, "obj")
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root})
    arrays = dict(encoder.arrays)
    arrays[_MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **arrays)
    else:
        atomic_write(path, lambda f: np.savez(f, **arrays))


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray], source: str) -> None:
        self.arrays = arrays
        self.source = source

    def _bad(self, why: str) -> ValueError:
        return ValueError(f"graphc.load: {self.source} has a corrupt manifest: {why}")

    def _array(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in self.arrays:
            raise self._bad(f"it refers to a missing array {name!r}")
        return self.arrays[name]

    def decode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if not isinstance(value, dict) or len(value) != 1:
            raise self._bad(f"unexpected entry {str(value)[:60]!r}")
        (tag, body), = value.items()
        if tag == "array":
            return self._array(body)
        if tag == "scalar":
            return self._array(body)[()]
        if tag in ("list", "tuple"):
            if not isinstance(body, list):
                raise self._bad(f"a {tag} entry is not a list")
            items = [self.decode(v) for v in body]
            return items if tag == "list" else tuple(items)
        if tag == "dict":
            if not isinstance(body, list):
                raise self._bad("a dict entry is not a list of pairs")
            out = {}
            for pair in body:
                if (not isinstance(pair, list) or len(pair) != 2
                        or isinstance(pair[0], bool) or not isinstance(pair[0], (str, int))):
                    raise self._bad(f"bad dict item {str(pair)[:60]!r}")
                out[pair[0]] = self.decode(pair[1])
            return out
        raise self._bad(f"unknown entry kind {tag!r}")


def load(path: str | os.PathLike | IO[bytes], *, limits: LoadLimits | None = None) -> Any:
    """Load what :func:`save` wrote. Never executes code from the file; a truncated or
    foreign file raises ValueError saying so, and so does a file declaring sizes over
    ``limits`` (default: ``LoadLimits()``, from the environment), before allocating them.

    >>> import io
    >>> buf = io.BytesIO(b"not a checkpoint")
    >>> try:
    ...     load(buf)
    ... except ValueError as err:
    ...     print(err)
    graphc.load: <file object> is not a file written by graphc.save (not an .npz archive)
    """
    limits = LoadLimits() if limits is None else limits
    source = "<file object>" if hasattr(path, "read") else repr(os.fspath(path))
    foreign = f"graphc.load: {source} is not a file written by graphc.save"
    if hasattr(path, "read") and not hasattr(path, "seek"):
        path = io.BytesIO(path.read())
    try:
        arrays = read_npz(path, source, limits)
    except LimitError as err:
        raise LimitError(f"graphc.load: {err}") from None
    except FormatError as err:
        why = str(err).removeprefix(source).strip()
        if why.startswith("is truncated or corrupt"):
            raise ValueError(f"{foreign}, or it {why}") from None
        raise ValueError(f"{foreign} ({why.removeprefix('is ')})") from None
    raw = arrays.pop(_MANIFEST, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{foreign} (an .npz archive without a graphc manifest)")
    try:
        manifest = parse_json(raw.tobytes().decode("utf-8"), f"{source}'s manifest", limits)
    except LimitError as err:
        raise LimitError(f"graphc.load: {err}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"graphc.load: {source} has a corrupt manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(foreign)
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"graphc.load: {source} has format version {version!r}; this graphc "
                         f"reads versions up to {VERSION}")
    if "root" not in manifest:
        raise ValueError(f"graphc.load: {source} has a corrupt manifest: no root entry")
    return _Decoder(arrays, source).decode(manifest["root"])
