"""The GPU probe: a process without a CUDA driver never imports numba.cuda."""

import os
import subprocess
import sys

_PROBE = """
import sys
from graphc.backends import cuda_device
cuda_device._driver_loadable = lambda: False  # a machine without a CUDA driver
status = cuda_device.gpu_status()
print(status.usable, "numba.cuda" in sys.modules)
print(status.reason)
"""


def test_no_driver_is_known_without_importing_numba_cuda():
    # numba.cuda's import costs 0.6 s, paid by every CPU-only process on the default
    # device (xpux) when the probe imported it to learn there is no driver.
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRAPHC_GPU", "NUMBA_ENABLE_CUDASIM")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0] == "False False"
    assert "no usable CUDA driver" in out[1]
