"""GPU check for the CUDA kernel cache (graphc/codegen/cuda_cache.py); run from the repo
root on a GPU machine: `python gpu_check_cuda_cache.py`. Each step is a fresh process
sharing one private cache: cold compiles, warm loads verified code (numba-cuda's real
_Kernel/CUDACodeLibrary pickles, numba_target_override, signature check), a planted .nbc
is deleted with one warning and recompiled, a copied entry is refused."""
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r'''
import json, sys, warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from numba import cuda
    from graphc.codegen.cache import compile_stats
    from graphc.codegen.cache_files import KernelCacheWarning
    from tests.codegen.cuda_graphs import nodes, reference, run_cuda
    ok, kernels = True, 0
    for case in sys.argv[1:]:
        outs = nodes(case)
        got, sources = run_cuda(outs)            # load_cuda_kernel(source): cc=None -> device's
        kernels += len(sources)
        for g, w in zip(got, reference(outs)):
            ok &= bool(np.allclose(np.asarray(g), w, rtol=2e-5, atol=2e-6, equal_nan=True))
print(json.dumps({"ok": ok, "kernels": kernels, "stats": compile_stats(),
                  "cc": list(cuda.get_current_device().compute_capability),
                  "warnings": [str(w.message) for w in caught
                               if issubclass(w.category, KernelCacheWarning)]}))
'''
CASES = ["elementwise_chain", "softmax_rows", "column_sums", "whole_sums"]


class Planted:
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.mkdir, (self.marker,))


def child(env):
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *CASES], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = round(time.perf_counter() - t, 2)
    s = result["stats"]
    print(f"  ok={result['ok']} kernels={result['kernels']} compiles={s['numba_compiles']} "
          f"hits={s['numba_cache_hits']} rebuilds={s['numba_cache_rebuilds']} "
          f"warnings={result['warnings']} {result['seconds']} s")
    assert result["ok"], result
    return result


tmp = Path(tempfile.mkdtemp())
root = tmp / "cache"
env = {**os.environ, "GRAPHC_CACHE_DIR": str(root), "PYTHONPATH": os.getcwd()}
env.pop("NUMBA_ENABLE_CUDASIM", None)
env.pop("NUMBA_CACHE_DIR", None)
pycache = root / "kernels" / "__pycache__"

print("1. cold: every kernel compiles and is saved with graphc's record")
cold = child(env)
n = cold["kernels"]
mods = sorted((root / "kernels").glob("c_*.py"))
assert cold["stats"]["numba_compiles"] == len(mods) and cold["warnings"] == [], cold
assert len(list(pycache.glob("c_*.nbi"))) == len(mods) == len(list(pycache.glob("c_*.graphc.json")))
assert not list(pycache.glob("*.lcs"))
print(f"  {len(mods)} c_*.py modules, device cc {cold['cc']}")

print("2. warm: every kernel loads verified, nothing compiles")
warm = child(env)
assert warm["stats"]["numba_compiles"] == 0 and warm["stats"]["numba_cache_hits"] == len(mods)
assert warm["warnings"] == [], warm

print("3. a planted pickle in one .nbc never runs: deleted, one warning, recompiled")
marker = tmp / "planted-ran"
victim = sorted(pycache.glob("c_*.nbc"))[0]
victim.write_bytes(pickle.dumps(Planted(str(marker))))
planted = child(env)
assert not marker.exists(), "PLANTED PICKLE RAN"
assert planted["stats"]["numba_compiles"] == 1 and len(planted["warnings"]) == 1, planted
assert "does not match graphc's record" in planted["warnings"][0]

print("4. another kernel's entry copied over one: refused, recompiled")
a, b = sorted(pycache.glob("c_*.nbc"))[:2]
key_a, key_b = a.name.split(".")[0], b.name.split(".")[0]
for f in pycache.glob(f"{key_b}.*"):
    shutil.copy(f, pycache / f.name.replace(key_b, key_a))
copied = child(env)
assert copied["stats"]["numba_compiles"] == 1 and len(copied["warnings"]) == 1, copied

print("5. warm again: all hits")
again = child(env)
assert again["stats"]["numba_compiles"] == 0 and again["warnings"] == [], again

print("6. the key follows the device's compute capability and the toolchain")
print(subprocess.run([sys.executable, "-c", r'''
from numba import cuda
from graphc.codegen import cuda_cache, cuda_ptx
src = "from numba import cuda\n@cuda.jit\ndef kernel(x):\n    x[0] = 1\n"
cc = tuple(cuda.get_current_device().compute_capability)
assert cuda_ptx._current_compute_capability() == cc
d = cuda_ptx.load_cuda_kernel(src)
assert d.py_func.__module__ == "graphc_kernels.c_" + cuda_cache.cuda_kernel_key(src, cc)
print("  cc", cc, "toolchain", cuda_cache.toolchain())
'''], env=env, capture_output=True, text=True).stdout.strip())
print(f"PASS: cold {cold['seconds']} s, warm {warm['seconds']} s for {len(mods)} kernels "
      f"({n} launches)")
