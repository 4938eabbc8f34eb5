"""Which buffers a Program may overwrite: ownership recorded, never guessed.

An optimizer step replaces each parameter (and each optimizer state) wholesale: the old
buffer is garbage once its Tensor holds the new value, unless something else can still
see it. Whether anything can is recorded when it happens, not read off reference counts
(which CPython does not promise, and which race under threads):

- **claim**: graphc owns an array it computed as a fresh Program output (one owning its
  memory) and handed to exactly one holder that will later replace it whole: the leaf a
  lazy step releases an optimizer's new value to (:func:`graphc.lazy.realize`, for the
  values its caller marks ``replacing``), or the leaf a compiled function writes a state
  to (``graphc.jit``).
- **expose**: an owned array stops being owned the moment a second holder may see it:
  a second Tensor on its leaf (``Tensor(t)``, an op that returns its input: the
  Tensor constructor and ``Tensor._wrap``), ``detach()`` (a new leaf on the same
  array), ``np.asarray(t)`` (the array itself: Program outputs are read-only), a Program
  output that is a view of an argument (:meth:`Program.run`), a value two Tensors
  were released to. Exposure is for good: the next step computes into a new array,
  which the holder owns again.
- **pending readers**: a graph built on the old value and not computed yet would read
  the overwritten buffer. A lazy step computes every live pending Tensor of its thread
  that reads a replaced value in its own Program (before the write: the compiler
  schedules in-place writes after every reader); a compiled function donates only values
  no live pending Tensor of its thread reads (``graphc.jit``). Graphs other threads
  build on a model one thread trains are a race, as they are in PyTorch (the
  architecture doc's "Threads").

A Program then writes a state's new value over its old buffer when :func:`may_donate`
says the holder's leaf still holds the array and the array is owned.

>>> import numpy as np

from ..backends.cuda_memory import is_device_array, view_base
>>> a = np.zeros(3, np.float32)
>>> claim(a); owned(a)
True
>>> expose(a); owned(a)
False
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..backends.cuda_memory import is_device_array, view_base

if TYPE_CHECKING:
    from ..ir import Node
    from .program import Program  # which calls hand_out()

# id(array) → a weak reference to each owned array. No callback (one per claim costs more
# than the claim): a reference whose array died owns nothing, as owned() checks that the
# reference still leads to the array asked about, and dead entries are swept when the
# table doubles. Single dict operations, atomic under the GIL (graphc supports GIL builds
# of CPython only); a sweep racing a claim can only drop a claim, so a race never
# donates: it keeps a copy.
_owned: dict[int, weakref.ref] = {}
_sweep_at = [1 << 10]


def claim(array: object) -> None:
    """Record that graphc owns ``array``: a fresh array with one holder (see the module
    docstring). A view, or anything but an ndarray or a GPU array, is never owned."""
    if (array.base is None if type(array) is np.ndarray
            else is_device_array(array) and view_base(array) is None):
        _owned[id(array)] = weakref.ref(array)
        if len(_owned) > _sweep_at[0]:
            for key, ref in _owned.copy().items():  # (copy: see ir/node.py's sweep)
                if ref() is None:
                    _owned.pop(key, None)
            _sweep_at[0] = max(1 << 10, 2 * len(_owned))


def expose(array: object) -> None:
    """Record that ``array`` may be seen by more than its one holder: never donated."""
    _owned.pop(id(array), None)


def hand_out(arrays: list, arguments: Sequence[int] = ()) -> None:
    """Record the outputs of a run about to be handed to its caller: a fresh array
    becomes read-only (its holder must not change a value graphc may compute from), a
    view exposes the array it looks into (an argument's, say), and an output that is an
    argument's array itself (``arguments``: their positions) is exposed and left as
    its owner made it. (The per-call path of every Program run.)"""
    for j, a in enumerate(arrays):
        if type(a) is np.ndarray:
            if arguments and j in arguments:
                _owned.pop(id(a), None)
                continue
            base = a.base
            if base is None:
                a.setflags(write=False)  # no flags object: the per-call cost matters
            else:
                _owned.pop(id(base), None)
        elif arguments and j in arguments:  # a GPU array: an argument's own
            _owned.pop(id(a), None)
        else:  # a GPU array: a view exposes its base
            base = view_base(a)
            if base is not None:
                _owned.pop(id(base), None)


def owned(array: object) -> bool:
    """Whether ``array`` is claimed and not exposed since."""
    ref = _owned.get(id(array))
    return ref is not None and ref() is array


def may_donate(holder: Node, array: object) -> bool:
    """Whether a Program may write a new value over ``array``, the value of the leaf
    ``holder`` whose Tensor is about to be rebound to that new value."""
    return holder.buffer is array and owned(array)


def donations(program: Program, args: list[Node], values: list, outputs: list[Node],
              replacing: dict[int, Node]) -> list[tuple[int, int]]:
    """``(argument index, output index)`` pairs ``program`` may compute in place in a
    lazy realization: ``args`` and ``values`` are the Program's argument nodes and their
    values, ``outputs`` its output nodes, and ``replacing`` maps an output's uid to the
    node its holder gives up for it (an optimizer step's old values)."""
    in_place = program.in_place
    return [(k, j) for k, j in replaced_pairs(args, outputs, replacing)
            if (k, j) in in_place and may_donate(args[k], values[k])]


def replaced_pairs(args: list[Node], outputs: list[Node], replacing: dict[int, Node]
                   ) -> set[tuple[int, int]]:
    """``(argument index, output index)`` of each output that replaces an argument (the
    pairs to build in-place kernels for)."""
    arg_index = {a.uid: k for k, a in enumerate(args)}
    pairs = set()
    for j, out in enumerate(outputs):
        old = replacing.get(out.uid)
        if old is not None and old.uid in arg_index:
            pairs.add((arg_index[old.uid], j))
    return pairs
