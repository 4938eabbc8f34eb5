"""`graphc run model.graphc --input x=input.npy` writes each output as .npy."""

import numpy as np

import graphc
import graphc.functional as F
from graphc.cli import main


def test_run_writes_outputs_as_npy(tmp_path, capsys):
    x = graphc.placeholder((None, 3), name="x")
    f = graphc.function([x], {"total": x.sum(axis=1), "peak": F.max(x, axis=1)})
    f.dump(tmp_path / "m.graphc")
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "in.npy", a)
    status = main(["run", str(tmp_path / "m.graphc"), "--input", f"x={tmp_path / 'in.npy'}",
                   "--out", str(tmp_path / "out")])
    assert status == 0
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "total.npy"), [3., 12.])
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "peak.npy"), [2., 5.])
    assert "total: float32[2]" in capsys.readouterr().out


def test_run_reports_bad_files_in_one_line(tmp_path, capsys):
    (tmp_path / "bad.graphc").write_bytes(b"nope")
    assert main(["run", str(tmp_path / "bad.graphc")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphc run: graphc.load_function:") and err.count("\n") == 1


_CALL = """
import json, sys
import numpy as np
import graphc
from graphc.codegen.cache import compile_stats
from graphc.runtime import compiler
fn = graphc.load_function(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 6)).astype(np.float32)
y = rng.integers(0, 3, 4).astype(np.int32)
loss = fn(x, y)
program = fn._last.program
print(json.dumps({"compiled": program.stats["compiled_kernels"],
                  "numba_compiles": compile_stats()["numba_compiles"],
                  "programs": [compiler.stats[k] for k in ("programs_compiled",
                                                          "programs_loaded")],
                  "loss": float(np.asarray(loss).reshape(()))}))
"""


def _dump_training_step(path):
    import graphc.module as M
    import graphc.optimizer as optim
    from tests.jit.training import training_step

    graphc.random.seed(3)
    net = M.Sequential(M.Linear(6, 8), M.LayerNorm(8), M.ReLU(), M.Linear(8, 3))
    step = training_step(net, optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
                         F.nn.cross_entropy)
    step = graphc.jit(step)
    rng = np.random.default_rng(1)
    step(rng.standard_normal((4, 6)).astype(np.float32), rng.integers(0, 3, 4).astype(np.int32))
    step.dump(path)


def test_a_precompiled_function_loads_and_runs_without_compiling(tmp_path):
    import json
    import os
    import subprocess
    import sys

    model = tmp_path / "step.graphc"
    _dump_training_step(model)
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path / "cache"), "GRAPHC_PROGRESS": "0",
           "GRAPHC_BACKEND": "compiled", "GRAPHC_PROGRAM_CACHE": "1"}

    def run(*argv):
        done = subprocess.run([sys.executable, *argv], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ahead = run("-m", "graphc.cli", "precompile", str(model))
    assert f"precompiled {model}:" in ahead and " new, " in ahead, ahead
    assert int(ahead.split(": ")[1].split(" kernel")[0]) > 0, ahead
    first = json.loads(run("-c", _CALL, str(model)))
    assert first["compiled"]["new"] == 0 and first["numba_compiles"] == 0, first
    assert first["compiled"]["from_cache"] > 0, first
    assert first["programs"] == [0, 1], first  # the Program itself loaded, not compiled
    # The same call with nothing compiled ahead gives the same loss, to the bit.
    env["GRAPHC_CACHE_DIR"] = str(tmp_path / "other-cache")
    cold = json.loads(run("-c", _CALL, str(model)))
    assert cold["compiled"]["new"] > 0 and cold["loss"] == first["loss"], (cold, first)
    assert cold["programs"] == [1, 0], cold


def test_precompile_asks_for_the_shape_of_symbolic_dimensions(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    x = graphc.placeholder((None, 3), name="x")
    graphc.function([x], x.sum(axis=1)).dump(tmp_path / "m.graphc")
    assert main(["precompile", str(tmp_path / "m.graphc")]) == 2
    err = capsys.readouterr().err
    assert "input 'x' has symbolic dimensions ('?', 3)" in err and "--shape x=" in err
    assert main(["precompile", str(tmp_path / "m.graphc"), "--shape", "x=5,3"]) == 0
    assert "precompiled" in capsys.readouterr().out


def test_precompile_under_the_interpreter_says_nothing_is_compiled(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "interp")
    x = graphc.placeholder((2, 3), name="x")
    graphc.function([x], x.sum(axis=1)).dump(tmp_path / "m.graphc")
    assert main(["precompile", str(tmp_path / "m.graphc")]) == 2
    assert "GRAPHC_BACKEND=interp: nothing is compiled" in capsys.readouterr().err
