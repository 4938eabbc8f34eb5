"""graphc/runtime/process_exit.py: at exit the heap is frozen, so the interpreter's last
garbage collection does not walk numba's objects, unless GRAPHC_GC_AT_EXIT=1."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import atexit, gc
import graphc
graphc.tensor  # the first public name loads the front end (graphc/__init__.py)
before = gc.get_freeze_count()
atexit._run_exitfuncs()  # what interpreter exit does first
print(before, gc.get_freeze_count())
"""


def _freeze_counts(**env: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=dict(os.environ, **env),
                         check=True, capture_output=True, text=True).stdout
    before, after = (int(v) for v in out.split())
    return before, after


def test_exit_freezes_the_heap():
    before, after = _freeze_counts()
    assert before == 0 and after > 10_000  # graphc and numba's objects, no longer walked


def test_gc_at_exit_keeps_the_collection():
    assert _freeze_counts(GRAPHC_GC_AT_EXIT="1") == (0, 0)
