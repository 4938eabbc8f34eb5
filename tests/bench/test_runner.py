"""graphc/bench/runner.py: the one subprocess runner of graphc bench and the first-step
benchmark."""

import os
import sys
import time

import pytest

from graphc.bench.runner import ChildFailed, run_process


def test_first_result_is_timed_from_the_child_s_start_to_its_line():
    code = "import time; time.sleep(0.3); print('first_result 1', flush=True); time.sleep(0.3)"
    first, wall = run_process([sys.executable, "-c", code], dict(os.environ))
    assert 0.3 <= first < wall and wall >= 0.6


def test_a_failing_child_raises_with_the_end_of_its_stderr():
    code = "import sys; sys.stderr.write('the reason\\n'); sys.exit(3)"
    with pytest.raises(ChildFailed, match=r"(?s)probe failed with 3.*the reason"):
        run_process([sys.executable, "-c", code], dict(os.environ), what="probe")


def test_a_child_hung_before_its_first_line_is_killed_at_the_timeout():
    # It holds stdout open and prints nothing: reading stdout alone would wait for it.
    code = "import time; time.sleep(30)"
    t0 = time.perf_counter()
    with pytest.raises(ChildFailed, match=r"hung failed with a timeout \(1 s\)"):
        run_process([sys.executable, "-c", code], dict(os.environ), timeout=1, what="hung")
    assert time.perf_counter() - t0 < 15
