"""``python -m graphc.bench``: the benchmark suites."""

from .kernels import compile_latency, main

main()
compile_latency()
