"""Process exit: skip the interpreter's last garbage collection over compiled code.

A process that compiled or loaded kernels holds hundreds of thousands of numba and
llvmlite objects (typing templates, IR, code libraries). At exit CPython runs one more
full garbage collection, which walks all of them: 0.34-0.54 s of a 1.2-1.6 s warm MLP
training script here, more than the warm-start budget beyond bare numba. graphc freezes
the heap in an ``atexit`` handler instead (``gc.freeze``), so that walk is skipped; the
operating system takes the memory back either way.

What changes: garbage still in a reference cycle at exit is not collected, so such
objects' finalizers do not run. Python never promised they would ("it is not guaranteed
that ``__del__()`` methods are called for objects that still exist when the interpreter
exits"), and ``atexit`` handlers registered after importing graphc (logging's flush,
for one) run before this one. ``GRAPHC_GC_AT_EXIT=1`` keeps the collection.
"""

from __future__ import annotations

import atexit
import gc
import os


def _skip_final_collection() -> None:
    if os.environ.get("GRAPHC_GC_AT_EXIT", "0") in ("", "0"):
        gc.freeze()


atexit.register(_skip_final_collection)
