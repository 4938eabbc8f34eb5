"""`graphc viz`: a script's function, dumped functions, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import networkx as nx
import pytest

import graphc
from graphc.cli import main

SCRIPT = textwrap.dedent('''
    import graphc
    import graphc.functional as F

    def forward():
        x = graphc.tensor([[1., -2.], [3., 4.]])
        return F.relu(x * 2).sum(axis=1)

    def several():
        x = graphc.tensor([1., 2.])
        return {"double": x * 2, "square": x * x}

    def nothing():
        return 42

    if __name__ == "__main__":
        raise SystemExit("the main block must not run")
''')


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "model_script.py"
    path.write_text(SCRIPT)
    return path


def _graph(path) -> nx.MultiDiGraph:
    return nx.node_link_graph(json.loads(path.read_text()), edges="edges")


def test_script_function_is_called_and_its_tensors_drawn(script, tmp_path, capsys):
    out = tmp_path / "g.json"
    assert main(["viz", f"{script}:forward", "-o", str(out), "--stage", "built"]) == 0
    assert f"wrote {out} (built stage)" in capsys.readouterr().out
    g = _graph(out)
    assert g.graph["stage"] == "built"
    ops = sorted(d["op"] for _, d in g.nodes(data=True) if d["role"] == "op")
    assert ops == ["broadcast_to", "mul", "relu", "sum"]
    (out_id,) = g.graph["outputs"]
    assert g.nodes[out_id]["source"] == "return F.relu(x * 2).sum(axis=1)"


def test_dict_results_and_default_output_name(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["viz", f"{script}:several", "--format", "json", "--group-by", "module"]) == 0
    g = _graph(tmp_path / "model_script-several-fused.json")
    assert g.graph["group_by"] == "module" and len(g.graph["outputs"]) == 2


@pytest.mark.parametrize("spec, message", [
    ("{script}:missing", "has no function 'missing'"),
    ("{script}:nothing", "nothing() returned int; return a Tensor"),
    ("{script}", "name the function to call, as in"),
    ("{tmp}/absent.py:f", "absent.py: no such script"),
    ("{script}.graphc", "is not a readable compiled function"),
])
def test_bad_targets_exit_2_with_a_message(script, tmp_path, capsys, spec, message):
    script.with_suffix(".py.graphc").write_bytes(b"not a dumped function")
    spec = spec.format(script=script, tmp=tmp_path)
    assert main(["viz", spec, "-o", str(tmp_path / "g.dot")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g.dot").exists()


def test_dumped_function(tmp_path, capsys):
    import graphc.functional as F
    import graphc.module as M

    model = M.Sequential(M.Linear(4, 8), M.ReLU(), M.Linear(8, 3))
    x = graphc.placeholder((5, 4), name="x")
    fn = graphc.function([x], F.softmax(model(x), axis=1), name="classify")
    fn.dump(str(tmp_path / "m.graphc"))
    out = tmp_path / "g.json"
    assert main(["viz", str(tmp_path / "m.graphc"), "-o", str(out)]) == 0
    g = _graph(out)
    assert g.graph["name"] == "classify" and g.graph["stage"] == "fused"
    assert list(g.graph["clusters"]) == [k.name for k in fn.explain().kernels]
    roles = sorted((d["role"], d["op"]) for _, d in g.nodes(data=True) if d["role"] != "op")
    assert roles == [("input", "placeholder")] + [("parameter", "buffer")] * 4
    assert main(["viz", str(tmp_path / "absent.graphc")]) == 2
    assert "absent.graphc: no such file" in capsys.readouterr().err


def test_as_a_command(script, tmp_path):
    out = tmp_path / "g.svg"
    done = subprocess.run([sys.executable, "-m", "graphc.cli", "viz", f"{script}:forward",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text().count('class="node"') >= 5
