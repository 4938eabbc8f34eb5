"""Shared test configuration.

Op-semantics tests run on the reference interpreter (fast, no numba compiles); tests of
the compiled path select ``GRAPHC_BACKEND=compiled`` themselves (see tests/runtime).
"""

import os

import pytest
from hypothesis import settings

os.environ.setdefault("GRAPHC_BACKEND", "interp")
# The suite runs on the CPU (xpux is the CPU) on any machine: GPU tests ask for the GPU
# in processes of their own (tests/gpu_gate.py).
os.environ.setdefault("GRAPHC_GPU", "0")
# The suite's workers use the cores already: no helper compile processes, except in
# tests/codegen/test_precompile.py.
os.environ.setdefault("GRAPHC_PARALLEL_COMPILE", "0")
# Tests count the Programs they compile: no Program snapshots left on disk by an earlier
# run or test, except in tests/runtime/test_snapshot.py (graphc/runtime/snapshot.py).
os.environ.setdefault("GRAPHC_PROGRAM_CACHE", "0")

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _no_leaked_recording_or_trace():
    """A test that leaves a GradManager recording or a trace open changes what later
    tests see (gradients are no longer deferred, realization defers to the trace): fail
    the test that leaked it, and clean up."""
    from graphc import autodiff, lazy

    yield
    leaked = (list(autodiff._recording()), list(lazy.active_traces()))
    for gm in list(autodiff._recording()):
        gm.release()
    lazy.active_traces().clear()
    assert leaked == ([], []), f"left recording / tracing: {leaked}"
