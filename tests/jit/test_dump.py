"""dump → load_function: same outputs (bit for bit in a fresh process), safe loading."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from tests.jit.training import training_step

RNG = np.random.default_rng(0)


def mlp_function():
    graphc.random.seed(2)
    net = M.Sequential(M.Linear(5, 7), M.GELU(), M.Linear(7, 3))
    x = graphc.placeholder((None, 5), name="x")
    return graphc.function([x], {"logits": net(x), "probs": F.softmax(net(x), axis=1)},
                           name="mlp")


LOADER = """
import sys, numpy as np, graphc
fn = graphc.load_function(sys.argv[1])
out = fn(x=np.load(sys.argv[2]))
np.save(sys.argv[3], out["probs"]); np.save(sys.argv[4], out["logits"])
"""


def test_dump_then_load_in_a_fresh_process_reproduces_outputs_bit_for_bit(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    f = mlp_function()
    x = RNG.standard_normal((6, 5)).astype(np.float32)
    want = f(x)
    f.dump(tmp_path / "mlp.graphc")
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, GRAPHC_BACKEND="compiled")
    args = [str(tmp_path / n) for n in ("mlp.graphc", "x.npy", "p.npy", "l.npy")]
    subprocess.run([sys.executable, "-c", LOADER, *args], env=env, check=True,
                   capture_output=True, text=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), want["probs"])
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), want["logits"])


@pytest.mark.parametrize("make, n_variables", [
    (lambda ps: optim.SGD(ps, lr=0.5, momentum=0.5), 4),  # weight, bias, momentum buffers
    (lambda ps: optim.Adam(ps, lr=0.05), 8),  # weight, bias, two moments and a step count each
], ids=["sgd", "adam"])
def test_a_dumped_training_step_keeps_training_after_loading(tmp_path, make, n_variables):
    graphc.random.seed(4)
    net = M.Linear(4, 2)
    opt = make(net.parameters())
    step = graphc.jit(training_step(net, opt))
    xs = RNG.standard_normal((4, 8, 4)).astype(np.float32)
    ys = RNG.standard_normal((4, 8, 2)).astype(np.float32)
    step(xs[0], ys[0])
    opt.param_groups[0]["lr"] *= 0.5  # saved as a constant with its value at dump time
    step.dump(tmp_path / "step.graphc")
    loaded = graphc.load_function(tmp_path / "step.graphc")
    for i in (1, 2, 3):
        want = step(xs[i], ys[i]).numpy()
        got = loaded(xs[i], ys[i])
        np.testing.assert_array_equal(got, want)
    weights = list(loaded.variables.values())
    assert len(weights) == n_variables
    assert any(np.array_equal(v.numpy(), net.weight.numpy()) for v in weights)
    assert all(v.item() == 4.0 for v in weights if v.shape == ())  # Adam's step counts
    assert step.traces == 1


def test_loaded_function_takes_new_batch_sizes(tmp_path):
    f = mlp_function()
    f.dump(tmp_path / "mlp.graphc")
    g = graphc.load_function(tmp_path / "mlp.graphc")
    for batch in (1, 9):
        x = RNG.standard_normal((batch, 5)).astype(np.float32)
        np.testing.assert_array_equal(g(x)["probs"], f(x)["probs"])
    assert g.input_names == ["x"] and g.output_names == ["logits", "probs"]


def rewrite(path, change):
    """Load the dump as graphc.save wrote it, change it, save it again."""
    saved = graphc.load(path)
    change(saved)
    graphc.save(saved, path)


def test_an_unknown_format_version_is_rejected(tmp_path):
    path = tmp_path / "f.graphc"
    mlp_function().dump(path)
    rewrite(path, lambda s: s.update(version=99))
    with pytest.raises(ValueError, match=r"format version 99 .*reads versions 1 to 1"):
        graphc.load_function(path)


def test_a_truncated_file_is_rejected(tmp_path):
    path = tmp_path / "f.graphc"
    mlp_function().dump(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        graphc.load_function(path)


def test_a_missing_weight_is_rejected(tmp_path):
    path = tmp_path / "f.graphc"
    mlp_function().dump(path)
    rewrite(path, lambda s: s["weights"].pop(sorted(s["weights"])[0]))
    with pytest.raises(ValueError, match="missing weight"):
        graphc.load_function(path)


def test_an_unknown_op_or_a_wrong_type_is_rejected(tmp_path):
    path = tmp_path / "f.graphc"
    mlp_function().dump(path)

    def patch(field, value):
        def change(saved):
            graph = json.loads(saved["graph"])
            node = next(n for n in graph["nodes"] if n["inputs"])  # an op, not a leaf
            node[field] = value
            saved["graph"] = json.dumps(graph)
        return change

    rewrite(path, patch("op", "os_system"))
    with pytest.raises(ValueError, match="unknown op 'os_system'"):
        graphc.load_function(path)
    mlp_function().dump(path)
    rewrite(path, patch("dtype", "int32"))
    with pytest.raises(ValueError, match="is corrupt: node .* file says int32"):
        graphc.load_function(path)


def test_other_files_are_rejected(tmp_path):
    path = tmp_path / "state.gc"
    graphc.save({"w": np.ones(2)}, path)
    with pytest.raises(ValueError, match="not a dumped compiled function"):
        graphc.load_function(path)
    (tmp_path / "junk").write_bytes(b"\x00junk")
    with pytest.raises(ValueError, match="not a readable compiled function"):
        graphc.load_function(tmp_path / "junk")
