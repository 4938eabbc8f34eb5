"""``python -m graphc.bench``: the benchmark suites."""

from .kernels import compile_latency, main

main()
compile_latency()

from .jit import main as define_then_run  # noqa: E402  (define-then-run suite)

define_then_run()
