"""End to end: a second process realizing the same model compiles no kernel."""

import json
import os
import subprocess
import sys

SCRIPT = """
import json, numpy as np, graphc, graphc.functional as F
from graphc.autodiff import GradManager
from graphc.codegen.cache import compile_stats
rng = np.random.default_rng(0)
x = graphc.tensor(rng.standard_normal((96, 64)).astype(np.float32))
w = graphc.tensor(rng.standard_normal((64, 80)).astype(np.float32))
gm = GradManager().attach(w)
with gm:
    loss = F.logsumexp(F.gelu(x @ w), axis=1).mean()
    gm.backward(loss)
graphc.realize(loss, w.grad)
print(json.dumps({"loss": loss.item(), "grad": float(w.grad.numpy().sum()),
                  **compile_stats()}))
"""


def run(cache_dir):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir), GRAPHC_BACKEND="compiled")
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_every_kernel_from_the_disk_cache(tmp_path):
    first = run(tmp_path)
    second = run(tmp_path)
    assert first["numba_compiles"] >= 1
    assert second["numba_compiles"] == 0
    assert second["numba_cache_hits"] == first["numba_compiles"]
    assert second["loss"] == first["loss"] and second["grad"] == first["grad"]
