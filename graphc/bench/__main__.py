"""``python -m graphc.bench``: the benchmark suites."""

from .kernels import compile_latency, main
from .training import main as training
from .training import step_compile_latency

main()
compile_latency()
training()
step_compile_latency()

from .jit import main as define_then_run  # noqa: E402  (define-then-run suite)

define_then_run()

from .first_step import main as first_step  # noqa: E402  (time to first step, issue 19)

first_step([])
