"""Benchmark suites (``make bench``, ``python -m graphc.bench``)."""
