"""The compiler's layers work without the front end: a subprocess that imports only
graphc.ir, ops, passes, codegen, backends and runtime builds a graph from IR nodes,
compiles and runs it, and never imports tensor, functional, autodiff or the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from tests.layering import ROOT

FRONT_END = ("graphc.tensor", "graphc.autodiff", "graphc.functional", "graphc.lazy",
             "graphc.module", "graphc.optimizer", "graphc.jit", "graphc.random",
             "graphc.device", "graphc.dtypes", "graphc.indexing", "graphc.serialization",
             "graphc.data", "graphc.viz")

SCRIPT = r"""
import json, sys
import numpy as np
from graphc.ir import buffer_node, const_node
from graphc.ops import apply
import graphc.passes, graphc.codegen
from graphc.backends import backend_for
from graphc.ir import structural_key
from graphc.runtime.compiler import _runtime_value, compile_outputs

rng = np.random.default_rng(0)
a = rng.standard_normal((5, 4)).astype(np.float32)
b = rng.standard_normal((4, 3)).astype(np.float32)
x, w = buffer_node(a, "cpux"), buffer_node(b, "cpux")
h = apply("matmul", [x, w])                                  # a library kernel
two = apply("broadcast_to", [const_node(2.0, np.float32, "cpux")], shape=(5, 3))
y = apply("exp", [apply("mul", [h, two])])                   # a generated loop kernel
s = apply("sum", [y], axes=(1,), keepdims=False)             # a reduction
compiled = compile_outputs([y, s], target=backend_for("cpux"))
_, leaves = structural_key([y, s])
got_y, got_s = compiled.program.run([_runtime_value(n) for n in leaves])
print(json.dumps({
    "y": np.asarray(got_y).tolist(), "s": np.asarray(got_s).tolist(),
    "kernels": [k.kind for k in compiled.fused.kernels],
    "modules": sorted(m for m in sys.modules if m.startswith("graphc")),
}))
"""


def run_alone() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_graph_of_ir_nodes_compiles_and_runs_without_the_front_end():
    result = run_alone()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    want_y = np.exp((a @ b) * np.float32(2))
    np.testing.assert_allclose(result["y"], want_y, rtol=1e-5)
    np.testing.assert_allclose(result["s"], want_y.sum(axis=1), rtol=1e-5)
    assert result["kernels"] == ["library", "loop"]  # matmul; exp·mul fused with the sum
    imported = set(result["modules"])
    assert "graphc.backends.cpu" in imported and "graphc.runtime.compiler" in imported
    assert sorted(m for m in imported if m.startswith(FRONT_END)) == []

