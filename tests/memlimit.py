"""Run memory-hungry test cases in a subprocess whose address space is capped.

A loader bug can make a small file allocate gigabytes. Such cases run in a child
process that imports graphc and NumPy first, measures its address space (``VmSize``),
then caps it with ``RLIMIT_AS`` at that size plus ``headroom`` bytes, so a regression
fails with MemoryError in the child instead of taking the machine down. Each case is a
Python function of the child script; the child runs them in turn and reports, for each,
``"ok"`` or the exception's type and message, as one JSON object on stdout.

The headroom is checked, not guessed: callers run a control case that loads a real file
of a known size under the same cap, so a cap too small for ordinary work fails loudly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

_CHILD = """
import json, resource, sys, traceback
import numpy as np
import graphc

def _vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

{body}

_base = _vm_size()
_soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (_base + {headroom}, _hard))
_results = {{}}
for _name in {cases!r}:
    try:
        globals()[_name](*sys.argv[1:])
        _results[_name] = "ok"
    except BaseException as _err:  # MemoryError included: that is the bug showing
        _results[_name] = f"{{type(_err).__name__}}: {{_err}}"
print(json.dumps(_results))
"""


def run_capped(body: str, cases: list[str], headroom: int, *args: str,
               timeout: float = 120) -> dict[str, str]:
    """Run functions ``cases`` of the Python source ``body`` in a child process capped
    at its post-import address space plus ``headroom`` bytes; each case's outcome."""
    script = _CHILD.format(body=textwrap.dedent(body), headroom=int(headroom), cases=cases)
    env = dict(os.environ, GRAPHC_PARALLEL_COMPILE="0", OMP_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
