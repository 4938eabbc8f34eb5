"""Reading ``.npz`` archives and ``.npy`` files within :class:`~graphc.limits.LoadLimits`.

``np.load`` allocates whatever a file declares: a 1 MiB deflated member that says it
holds 1 GiB is given 1 GiB. These readers look at every declared size first, against
the limits and against each other, and only then allocate:

- the archive's members: only ``.npy`` entries, not encrypted; their decompressed sizes
  (``ZipInfo.file_size``) add up to at most ``max_bytes``; a compressed member larger
  than 64 MiB expands at most ``max_ratio`` times; its bytes lie within the archive;
- each array's ``.npy`` header: a plain dtype (numbers, bools, fixed-width strings; an
  object array would need unpickling, which graphc never does), at most
  ``max_elements`` elements, and a data size (shape × itemsize) equal to what the member
  or file holds after its header, so neither can claim more than the other.

Errors are :class:`FormatError` (not such a file, or truncated or corrupt) or, for a size
over a limit, :class:`LimitError`; both are ValueErrors whose text starts with the name
the caller gave.

>>> import io, numpy as np
>>> buf = io.BytesIO(); np.savez(buf, w=np.arange(3.0)); _ = buf.seek(0)
>>> read_npz(buf, "buf", LoadLimits())
{'w': array([0., 1., 2.])}
"""

from __future__ import annotations

import os
import zipfile
import zlib
from typing import IO

import numpy as np

from .limits import RATIO_FLOOR, LimitError, LoadLimits, check_elements, over

__all__ = ["FormatError", "LimitError", "read_npy", "read_npz"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member, or an empty archive's end record
_NPY_MAGIC = b"\x93NUMPY"
_KINDS = "biufcSU"  # bool, ints, floats, complex, bytes, str: no objects, no records
_CHUNK = 1 << 24


class FormatError(ValueError):
    """Not an archive or array file, or a truncated or corrupt one."""


def _size_of(f: IO[bytes]) -> int:
    here = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(here)
    return end


def _read_array(f: IO[bytes], available: int, name: str, limits: LoadLimits) -> np.ndarray:
    """The array in ``f`` (positioned at a ``.npy`` header), which holds ``available``
    bytes from there on, header included."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise FormatError(f"{name} has an unsupported .npy version {version}")
        header = f.tell()
    except FormatError:
        raise
    except (ValueError, EOFError, OSError, SyntaxError) as err:
        raise FormatError(f"{name} is not a readable .npy array ({err})") from None
    if dtype.hasobject:
        raise FormatError(f"{name} holds pickled Python objects, which graphc never loads")
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise FormatError(f"{name} has an unsupported dtype {dtype}")
    try:
        shape = check_elements(shape, name, limits)
    except LimitError:
        raise
    except ValueError as err:
        raise FormatError(str(err)) from None
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if header + nbytes != available:
        raise FormatError(f"{name} is truncated or corrupt: its header declares "
                          f"{nbytes} bytes of data, the file holds {available - header}")
    if nbytes > limits.max_bytes:
        raise over(f"{name} declares {nbytes} bytes", "max_bytes", limits)
    out = np.empty(shape[::-1] if fortran else shape, dtype)
    view = memoryview(out.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
    done = 0
    while done < nbytes:
        got = f.readinto(view[done:done + _CHUNK])
        if not got:
            raise FormatError(f"{name} is truncated or corrupt: it ends after {done} of "
                              f"{nbytes} bytes of data")
        done += got
    return out.T if fortran else out


def read_npy(path: str | os.PathLike, name: str, limits: LoadLimits) -> np.ndarray:
    """The array in the ``.npy`` file ``path`` (``name`` is how errors call it).

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(p, np.eye(2))
    >>> read_npy(p, "x.npy", LoadLimits(max_elements=3))
    Traceback (most recent call last):
    ...
    graphc.limits.LimitError: x.npy has shape (2, 2): 4 elements, over the limit of 3 (raise it \
with GRAPHC_LOAD_MAX_ELEMENTS=n or limits=graphc.LoadLimits(max_elements=n))
    """
    with open(path, "rb") as f:
        return _read_array(f, _size_of(f), name, limits)


def read_npz(source: str | os.PathLike | IO[bytes], name: str,
             limits: LoadLimits) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``source`` (a path or a seekable binary file),
    by member name without ``.npy``; sizes are checked before anything is read."""
    if hasattr(source, "read"):
        return _read_npz_file(source, name, limits)
    with open(source, "rb") as f:
        return _read_npz_file(f, name, limits)


def _read_npz_file(f: IO[bytes], name: str, limits: LoadLimits) -> dict[str, np.ndarray]:
    start = f.tell()
    magic = f.read(len(_NPY_MAGIC))
    f.seek(start)
    if magic.startswith(_NPY_MAGIC):
        raise FormatError(f"{name} is a single .npy array, not an .npz archive")
    if not magic.startswith(_ZIP_MAGIC):
        raise FormatError(f"{name} is not an .npz archive")
    corrupt = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
               NotImplementedError)
    try:
        archive = zipfile.ZipFile(f)
    except corrupt as err:
        raise FormatError(f"{name} is truncated or corrupt ({type(err).__name__}: "
                          f"{err})") from None
    with archive:
        members = archive.infolist()
        _check_members(members, _size_of(f), name, limits)
        arrays: dict[str, np.ndarray] = {}
        for info in members:
            where = f"{name} member {info.filename!r}"
            try:
                with archive.open(info) as member:
                    arrays[info.filename[:-4]] = _read_array(member, info.file_size, where,
                                                            limits)
            except (FormatError, LimitError):
                raise
            except corrupt as err:
                raise FormatError(f"{where} is truncated or corrupt ({type(err).__name__}: "
                                  f"{err})") from None
        return arrays


def _check_members(members: list[zipfile.ZipInfo], archive_size: int, name: str,
                   limits: LoadLimits) -> None:
    """Every declared size of the archive, before any member is read."""
    seen: set[str] = set()
    total = 0
    for info in members:
        where = f"{name} member {info.filename!r}"
        if not info.filename.endswith(".npy") or info.filename in seen:
            raise FormatError(f"{where} is not a (single) .npy array")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise FormatError(f"{where} is encrypted")
        if info.header_offset + info.compress_size > archive_size:
            raise FormatError(f"{name} is truncated or corrupt: {info.filename!r} "
                              f"extends past the end of the file")
        total += info.file_size
        if total > limits.max_bytes:
            raise over(f"{name} declares {total} bytes of arrays (decompressed)",
                       "max_bytes", limits)
        if (info.compress_type != zipfile.ZIP_STORED and info.file_size > RATIO_FLOOR
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            ratio = info.file_size // max(info.compress_size, 1)
            raise over(f"{where} declares {info.file_size} bytes decompressed from "
                       f"{info.compress_size} (it expands {ratio} times)", "max_ratio",
                       limits)

