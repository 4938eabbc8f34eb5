"""Shared test configuration.

Op-semantics tests run on the reference interpreter (fast, no numba compiles); tests of
the compiled path select ``GRAPHC_BACKEND=compiled`` themselves (see tests/runtime).
"""

import os

from hypothesis import settings

os.environ.setdefault("GRAPHC_BACKEND", "interp")

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
