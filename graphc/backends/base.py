"""The backend object: a name, a table of library kernels for opaque ops, capabilities.

An op's meaning (inference, reference, gradient, fusion kind) lives in ``graphc.ops``;
how one backend computes an opaque op lives in that backend's table, as a
:class:`LibraryKernel`. The linker asks :meth:`Backend.library_kernel` for each opaque
op of a fused graph; an op the table lacks is a compile-time error, never a silent slow
path. A future backend adds its own renderer and schedule beside these (DESIGN.md §6).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..ir import Attrs, GraphcError
from ..ir.target import Capabilities

IntoBuffer = Callable[[Sequence[np.ndarray], Attrs, np.ndarray], None]
ReturnsArray = Callable[[Sequence[np.ndarray], Attrs], np.ndarray]


class NoImplementation(GraphcError, RuntimeError):
    """An op or device the chosen backend cannot run (a RuntimeError, as MegEngine's
    errors for an op a device does not support are)."""


@dataclass(frozen=True)
class LibraryKernel:
    """How a backend computes one opaque op: exactly one of ``into`` and ``returns``.

    ``into(inputs, attrs, out)`` writes the whole result into ``out``, a buffer of the
    node's shape and dtype that the Program allocates (from its memory plan);
    ``returns(inputs, attrs)`` returns a new array (an op run by its NumPy reference).
    ``in_place_input`` (``into`` kernels only) is the input whose buffer may be passed
    as ``out``: the kernel then updates it in place (same shape, dtype, C layout), which
    the Program does only where the caller says that input's old value is dead.
    ``describe`` is what ``graphc.explain`` prints for the call. ``on_device`` (GPU
    kernels): ``into`` takes a fourth argument, the step's :class:`DeviceCall` (the call's
    stream, its error word). ``checks`` (GPU kernels): the kernel may record a data error
    in the call's error word (and ``keep`` the inputs the op's reference needs to word
    it); the runtime raises it where results are read.
    """

    describe: str
    into: IntoBuffer | None = None
    returns: ReturnsArray | None = None
    in_place_input: int | None = None
    on_device: bool = False
    checks: bool = False

    def __post_init__(self) -> None:
        if (self.into is None) == (self.returns is None):
            raise ValueError(f"{self.describe}: give exactly one of into= and returns=")
        if self.in_place_input is not None and self.into is None:
            raise ValueError(f"{self.describe}: in_place_input needs an into= kernel")


class DeviceCall:
    """What a GPU library kernel gets of the call running it: ``stream`` (the call's CUDA
    stream: launch on it, never synchronise) and ``error_word`` (this step's one-element
    int64 device array, zero until the kernel records a data error: kernels cannot raise,
    the runtime reads the word where results are read). ``keep(*arrays)`` holds arrays
    the runtime needs to word the error (the labels a bounds check read)."""

    __slots__ = ("stream", "error_word", "kept")

    def __init__(self, stream: object, error_word: object) -> None:
        self.stream = stream
        self.error_word = error_word
        self.kept: tuple = ()

    def keep(self, *arrays: object) -> None:
        self.kept = arrays


class Backend:
    """One backend: its ``name``, library kernels by op name, and ``capabilities``.

    ``cache_tag`` (name and fingerprint) goes into every Program-cache key, so a Program
    compiled for one backend, or under other capabilities, is never reused by another.
    ``device`` is where its buffers live (``"cpu"`` or ``"gpu"``): the runtime links a
    Program for it with that device's linker.
    """

    def __init__(self, name: str, library: Mapping[str, LibraryKernel],
                 capabilities: Capabilities, device: str = "cpu") -> None:
        self.name = name
        self.device = device
        self.capabilities = capabilities
        self._library = dict(library)
        table = sorted((op, k.describe, k.in_place_input) for op, k in self._library.items())
        digest = hashlib.sha256(f"{name}|{capabilities.fingerprint()}|{table}".encode())
        self.fingerprint = digest.hexdigest()[:16]
        self.cache_tag = (name, self.fingerprint)

    def library_kernel(self, op: str) -> LibraryKernel:
        """The kernel computing opaque op ``op``; :class:`NoImplementation` if none."""
        kernel = self._library.get(op)
        if kernel is None:
            raise NoImplementation(f"op {op} has no implementation on the {self.name} "
                                   f"backend (it has: {', '.join(sorted(self._library))})")
        return kernel

    def implements(self, op: str) -> bool:
        """Whether the library table has a kernel for ``op``."""
        return op in self._library

    def __repr__(self) -> str:
        return f"<graphc backend {self.name} {self.fingerprint}>"
