"""Benchmarks: ``graphc bench`` (:func:`benchmark`, docs/benchmarking.md) and the suites
it runs."""

from .api import benchmark
from .case import Case

__all__ = ["Case", "benchmark"]
