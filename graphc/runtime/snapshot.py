"""Whole-Program snapshots: a compiled Program saved so that a later process loads it.

A warm first step used to compile its Program again in every process: the passes,
fusion, scheduling, the memory plan and rendering every kernel's source (0.3–1.5 s for
the CNNs of graphc/bench/models) before numba loaded a single cached kernel. The linker
(graphc/runtime/link.py) makes every step of a CPU Program from plain data, its
*records*; after a compile they are saved here, and a process meeting the same
structure builds its Program from them through the same functions, loading each
kernel's module by its source (numba's cached machine code then loads at the first
call, as for any kernel).

A snapshot lives in the kernel cache (``programs/p_<key>.npz``: the plan as JSON text
and the constants' arrays, read back within :class:`graphc.LoadLimits`, never a pickle)
under the cache's trust rule: its record ``p_<key>.graphc.json`` holds an HMAC of the
file's bytes with the cache's secret, checked before the file is parsed; a file that
fails, or does not parse, is deleted, warned about once and compiled afresh. The key
hashes the graph's structural key, the backend's cache tag, the in-place updates asked
for, and a fingerprint of graphc's own code (each file's size and time), NumPy, numba and
Python: any change to the compiler makes new keys, so a stale plan is never loaded.
Snapshots are counted in the cache's size cap and emptied by ``graphc cache clear``.

Only CPU Programs are saved (the GPU linker makes steps from device objects); the switch
``GRAPHC_PROGRAM_CACHE=0`` turns snapshots off.

>>> program_key(((("arg", 1),), (0,)), ("cpu", "x"), set()) is not None
True
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..ir.types import Attrs
from ..passes.memory import MemoryPlan
from .link import allocator_of, const_step_of, library_fn, view_fn, view_step_of
from .program import InPlace, Program, library_step, loop_step

FORMAT = "graphc.program"
VERSION = 1
_HEADER, _PLAN = "format", "plan"  # the archive's JSON members (UTF-8 bytes as uint8)
DIRECTORY = "programs"
PREFIX = "p_"


def enabled() -> bool:
    """Whether Programs are saved and loaded (``GRAPHC_PROGRAM_CACHE``, on unless 0)."""
    return os.environ.get("GRAPHC_PROGRAM_CACHE", "1") != "0"


@functools.cache
def fingerprint() -> str:
    """A digest of what shapes a Program: graphc's code, NumPy, numba and Python.

    graphc's code counts by each source file's path, size and modification time, the
    rule numba's own cache applies to a function's source: stating the ~230 files takes
    about a millisecond where reading and hashing them took 0.15 s of every warm start.
    An edit, a checkout or a reinstall changes a file's time, so it makes new keys.
    """
    import importlib.util

    import numba

    digest = hashlib.sha256(f"{np.__version__} {numba.__version__} {sys.version}".encode())
    kernels = importlib.util.find_spec("graphc.kernels")
    for base in (Path(__file__).resolve().parent.parent,
                 Path(kernels.origin).parent if kernels and kernels.origin else None):
        if base is None:
            continue
        for path in sorted(base.rglob("*.py")):
            stat = path.stat()
            digest.update(f"{path.relative_to(base)}\0{stat.st_size}\0{stat.st_mtime_ns}\0"
                          .encode())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """A structural key's entries as JSON values (np.dtype by name); TypeError for
    anything else, which makes the graph one that is not saved."""
    if isinstance(value, np.dtype):
        return value.name
    raise TypeError(f"not part of a Program key: {type(value).__name__}")


def program_key(key: tuple, backend: tuple, updates: set | None) -> str | None:
    """The hex key of a Program in the cache (None when the structure holds a value
    that has no exact JSON form)."""
    try:
        text = json.dumps([key, list(backend), sorted(updates or ()), fingerprint()],
                          default=_plain, allow_nan=True)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _directory() -> tuple[Path, Path] | None:
    from ..codegen.cache import cache_dir
    from ..codegen.cache_files import usable_directory

    root = cache_dir()
    directory = root / DIRECTORY
    return (directory, root) if usable_directory(directory, root, create=True) else None


# ------------------------------------------------------------------------- saving


def _text(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _attrs(attrs: Attrs) -> list:
    return [[k, v] for k, v in attrs.items_tuple()]


def _encode(records: list[tuple], constants: dict[str, np.ndarray]) -> list:
    out = []
    for record in records:
        kind = record[0]
        if kind == "view":
            _, op, src, dst, ops = record
            out.append(["view", op, src, dst, [[o, _attrs(a)] for o, a in ops]])
        elif kind == "const":
            _, dst, value = record
            name = f"c{len(constants)}"
            constants[name] = np.asarray(value)
            scalar = not isinstance(value, np.ndarray)
            out.append(["const", dst, name, scalar, scalar or bool(value.flags.writeable)])
        elif kind == "loop":
            out.append(list(record))
        else:
            (_, name, op, attrs, in_slots, out_slot, dtype, mode, location,
             key_index) = record
            out.append(["library", name, op, _attrs(attrs), in_slots, out_slot, dtype,
                        list(mode), location, key_index])
    return out


def save(key: str, records: list[tuple], program: Program, plan: MemoryPlan) -> bool:
    """Save ``program`` (built from ``records``) under ``key``; whether it was saved."""
    from ..codegen import cache_index
    from ..codegen.cache_files import locked, warn_unwritable, write_atomic

    if len(records) != len(program.steps):  # a step made otherwise: not reproducible
        return False
    where = _directory()
    if where is None:
        return False
    directory, root = where
    constants: dict[str, np.ndarray] = {}
    try:
        document = {
            "records": _encode(records, constants), "n_slots": program.n_slots,
            "arg_slots": program.arg_slots, "output_slots": program.output_slots,
            "in_place": [[a, o, s] for (a, o), s in program.in_place.items()],
            "n_planned": program.n_planned, "arg_outputs": list(program.arg_outputs),
            "kernel_steps": [[i, k, label] for i, (k, label)
                             in program.kernel_steps.items()],
            "buffers": [[list(shape), np.dtype(dtype).name] for shape, dtype in plan.buffers],
            "stats": {k: program.stats[k] for k in ("kernels", "planned_bytes")
                      if k in program.stats},
        }
        text = json.dumps(document, allow_nan=True)
    except (TypeError, ValueError):
        return False
    header = json.dumps({"format": FORMAT, "version": VERSION})
    buffer = io.BytesIO()
    np.savez(buffer, **{_HEADER: _text(header), _PLAN: _text(text)},
             **{f"const_{k}": v for k, v in constants.items()})
    data = buffer.getvalue()
    name = f"{PREFIX}{key}"
    path, record = directory / f"{name}.npz", directory / (name + cache_index.RECORD_SUFFIX)
    try:
        with locked(directory, exclusive=True):
            write_atomic(path, data)
            written = cache_index.write_record(record, root, key, {path.name: data})
    except OSError as exc:
        warn_unwritable(root, exc)
        return False
    cache_index.note_written(root, len(data) + written, f"{DIRECTORY}/{name}")
    return True


# ------------------------------------------------------------------------ loading


def load(key: str, backend) -> tuple[Program, MemoryPlan] | None:
    """The Program saved under ``key`` with its memory plan, or None (none saved, or a
    file that fails its record or does not parse: deleted and warned about)."""
    from ..codegen import cache_index
    from ..codegen.cache_files import locked, remove_files, warn_once

    where = _directory()
    if where is None:
        return None
    directory, root = where
    name = f"{PREFIX}{key}"
    path, record = directory / f"{name}.npz", directory / (name + cache_index.RECORD_SUFFIX)
    try:
        with locked(directory, exclusive=False):
            data = path.read_bytes()
            trusted = cache_index.verified_bytes(path, data, record, root, key)
    except OSError:
        return None
    try:
        if not trusted:
            raise ValueError("its record does not vouch for it")
        loaded = _program(data, backend)
    except Exception as exc:  # verified but unusable (a stale kernel, a bad record): rebuilt
        with locked(directory, exclusive=True):
            remove_files([path, record])
        warn_once("program", str(path), f"graphc: the saved Program {path} could not be "
                  f"used ({exc}): corrupt, copied, stale or planted; compiling it afresh")
        return None
    cache_index.touch(record)
    return loaded


def _program(data: bytes, backend) -> tuple[Program, MemoryPlan]:
    from ..arrayfile import read_npz
    from ..codegen.cache import load_kernel
    from ..limits import LoadLimits

    arrays = read_npz(io.BytesIO(data), "saved Program", LoadLimits())
    header = json.loads(arrays[_HEADER].tobytes())
    if header != {"format": FORMAT, "version": VERSION}:
        raise ValueError("not a saved Program of this version")
    doc = json.loads(arrays[_PLAN].tobytes())
    constants = {k.removeprefix("const_"): v for k, v in arrays.items()
                 if k.startswith("const_")}
    steps, kernels = [], []
    for record in doc["records"]:
        kind = record[0]
        if kind == "view":
            _, op, src, dst, ops = record
            chain = [(o, Attrs(dict(a))) for o, a in ops]
            steps.append(view_step_of(f"view {op}", src, dst, view_fn(chain)))
        elif kind == "const":
            _, dst, array, scalar, writeable = record
            # (writable or not as the linker's constant was: numba types a read-only
            # array apart, so the kernels' cached signatures expect the same)
            value = np.array(constants[array])
            value.flags.writeable = bool(writeable)
            steps.append(const_step_of(dst, value[()] if scalar else value))
        elif kind == "loop":
            _, name, source, params, allocations, sizes, plain, variant = record
            params = [tuple(p) for p in params]
            outs = [(slot, allocator_of(_spec(spec))) for slot, spec in allocations]
            in_place = None if variant is None else InPlace(
                variant[0], [tuple(p) for p in variant[1]], [tuple(p) for p in variant[2]])
            steps.append(loop_step(name, load_kernel(source), params, outs,
                                   np.array(sizes, dtype=np.int64), plain, in_place))
            kernels.append(source)
        elif kind == "library":
            (_, name, op, attrs, in_slots, out_slot, dtype, mode, location,
             key_index) = record
            mode = (mode[0], _spec(mode[1])) if mode[0] == "into" else \
                (mode[0], mode[1], mode[2], tuple(mode[3])) if mode[0] == "donor" else \
                tuple(mode)
            fn = library_fn(backend.library_kernel(op), Attrs(dict(attrs)), dtype, mode)
            steps.append(library_step(name, fn, in_slots, out_slot, location, op,
                                      key_index))
            kernels.append(name)
        else:
            raise ValueError(f"unknown step {kind!r}")
    program = Program(
        steps, doc["n_slots"], doc["arg_slots"], doc["output_slots"], kernels,
        in_place={(a, o): s for a, o, s in doc["in_place"]}, n_planned=doc["n_planned"],
        arg_outputs=tuple(doc["arg_outputs"]),
        kernel_steps={i: (k, label) for i, k, label in doc["kernel_steps"]})
    program.stats.update(doc["stats"])
    plan = MemoryPlan({}, [(tuple(shape), np.dtype(dtype)) for shape, dtype in doc["buffers"]])
    return program, plan


def _spec(spec: list) -> tuple:
    """An allocation spec read back from JSON (its shape a tuple again)."""
    if spec[0] == "planned":
        return ("planned", spec[1], tuple(spec[2]), spec[3])
    return ("fresh", tuple(spec[1]), spec[2])
