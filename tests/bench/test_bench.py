"""``graphc bench`` (graphc/bench/api.py, command.py, report.py, schema.py) on tiny user
files written here: the result validated against its JSON schema (by jsonschema, not by
our code), ratios recomputed from the raw timings, a disagreeing system reported and not
timed, missing optional cases reported as "not provided", --profile, --compare, the
exit codes and --help.

Two real runs serve most tests (module fixtures, fresh caches under tmp_path): a file
with graphc and NumPy cases through the command line (--json --profile --markdown
--plot), and one whose NumPy case disagrees. About 15 s on two busy cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import jsonschema
import numba
import numpy as np
import pytest

from graphc.bench import report
from graphc.bench.child import _max_difference
from graphc.bench.harness import Rounds
from graphc.bench.schema import SCHEMA
from graphc.cli import main

HAS = {name: importlib.util.find_spec(name) is not None
       for name in ("torch", "jax", "matplotlib")}

AGREEING = '''
import numpy as np
X = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
W = np.random.default_rng(1).standard_normal((64, 16)).astype(np.float32)

def graphc_case(quick=False):
    import graphc, graphc.functional as F
    return (lambda x, w: F.relu(x @ w).sum(axis=1)), (graphc.tensor(X), graphc.tensor(W))

def numpy_case():
    return (lambda x, w: np.maximum(x @ w, 0).sum(axis=1)), (X, W)
'''

DISAGREEING = '''
import numpy as np
X = np.arange(12, dtype=np.float32).reshape(3, 4)

def graphc_case():
    import graphc
    return (lambda x: x * 2.0), (graphc.tensor(X),)

def numpy_case():
    return (lambda x: x * 2.0 + 0.5), (X,)
'''


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Private compile caches for the children (restored after)."""
    root = tmp_path_factory.mktemp("bench_cache")
    saved = {k: os.environ.get(k) for k in ("GRAPHC_CACHE_DIR", "NUMBA_CACHE_DIR")}
    os.environ["GRAPHC_CACHE_DIR"] = str(root / "graphc")
    os.environ["NUMBA_CACHE_DIR"] = str(root / "numba")
    yield root
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def agreeing(env, tmp_path_factory):
    """The agreeing file through the command line: exit status, printed table, files."""
    root = tmp_path_factory.mktemp("agreeing")
    path = root / "model.py"
    path.write_text(AGREEING)
    out = {"json": root / "r.json", "md": root / "r.md", "png": root / "r.png"}
    plot = ["--plot", str(out["png"])] if HAS["matplotlib"] else []
    code = main(["bench", str(path), "--quick", "--rounds", "3", "--systems",
                 "graphc,numpy,torch,jax", "--profile", "--json", str(out["json"]),
                 "--markdown", str(out["md"]), "--no-progress", *plot])
    return code, json.loads(out["json"].read_text()), out, path


@pytest.fixture(scope="module")
def disagreeing(agreeing, tmp_path_factory):
    """The same file rewritten so that its NumPy case disagrees, run with ``--compare``
    against the agreeing run (one child run serves both)."""
    _, _, out, path = agreeing
    path.write_text(DISAGREEING)
    new = tmp_path_factory.mktemp("disagreeing") / "wrong.json"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["bench", str(path), "--quick", "--rounds", "2", "--systems",
                     "graphc,numpy", "--json", str(new), "--compare", str(out["json"]),
                     "--no-progress"])
    return code, json.loads(new.read_text()), stdout.getvalue()


def test_the_result_follows_its_schema(agreeing, disagreeing):
    jsonschema.validate(agreeing[1], SCHEMA)
    jsonschema.validate(disagreeing[1], SCHEMA)
    broken = json.loads(json.dumps(agreeing[1]))
    broken["cases"][0]["systems"]["numpy"]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_a_user_file_without_the_optional_cases(agreeing):
    code, result, _, _ = agreeing
    assert code == 0
    systems = result["cases"][0]["systems"]
    assert systems["graphc"]["status"] == systems["numpy"]["status"] == "ok"
    for system in ("torch", "jax"):  # no torch_case(), no jax_case()
        assert systems[system]["status"] == ("not provided" if HAS[system] else
                                             "not installed")
    assert systems["numpy"]["check"].startswith("max |diff|")
    cold = systems["graphc"]["cold"]  # --quick: the measurement's start, on empty caches
    assert 0 < cold["first_call_seconds"] < cold["first_result_seconds"]
    assert cold["process_seconds"] is None  # (the process went on to measure the others)
    counts = systems["graphc"]["graphc"]
    assert counts["programs"] >= 1 and counts["kernels"] >= 1
    assert systems["graphc"]["memory"]["case_rss"] >= 0


def test_ratios_and_spreads_follow_from_the_raw_timings(agreeing):
    systems = agreeing[1]["cases"][0]["systems"]
    ours, theirs = systems["graphc"]["steady"], systems["numpy"]["steady"]
    assert len(ours["rounds"]) == len(ours["calls"]) == 3
    for s in (ours, theirs):
        assert s["rounds"] == [statistics.median(c) for c in s["calls"]]
        assert s["median"] == statistics.median(s["rounds"])
        assert s["min"] == min(min(c) for c in s["calls"])
        assert s["max"] == max(max(c) for c in s["calls"])
    paired = statistics.median(b / a for a, b in zip(ours["rounds"], theirs["rounds"]))
    assert systems["numpy"]["time_vs_graphc"] == pytest.approx(paired, rel=1e-12)
    assert systems["graphc"]["time_vs_graphc"] == 1.0


def test_paired_ratio_arithmetic():
    r = Rounds({"graphc": [1.0, 2.0, 4.0], "torch": [3.0, 2.0, 2.0]},
               {"graphc": [[1.0, 1.5], [2.0], [4.0]], "torch": [[3.0], [2.0], [2.0]]})
    # Same-round ratios 3, 1, 0.5: their median, not the ratio of medians (2 / 2 = 1).
    assert r.ratio("torch", "graphc") == 1.0
    assert r.ratio("graphc", "torch") == 1.0
    r2 = Rounds({"a": [2.0, 3.0, 10.0], "b": [1.0, 1.0, 1.0]})
    assert r2.ratio("a", "b") == 3.0 and r2.median("a") == 3.0
    assert r.summary("graphc")["min"] == 1.0 and r.summary("graphc")["max"] == 4.0
    assert np.isnan(r.ratio("graphc", "jax"))


def test_a_disagreeing_system_is_reported_not_timed(disagreeing):
    code, result, _ = disagreeing
    assert code == 1
    numpy_result = result["cases"][0]["systems"]["numpy"]
    assert numpy_result["status"] == "disagrees"
    assert "max |diff| 0.5" in numpy_result["check"]
    assert "steady" not in numpy_result and "time_vs_graphc" not in numpy_result
    assert result["cases"][0]["systems"]["graphc"]["status"] == "ok"
    table = report.table(result)
    assert "disagrees" in table and "0.5" in table


def test_the_equality_check():
    a = [np.array([1.0, 2.0, 3.0])]
    assert _max_difference(a, [a[0] + 1e-7], 1e-4, 1e-5)[0]
    same, detail = _max_difference(a, [a[0] + [0, 0, 0.01]], 1e-4, 1e-5)
    assert not same and "output 0" in detail and "0.01" in detail
    assert not _max_difference(a, [a[0][:2]], 1e-4, 1e-5)[0]  # shape
    assert not _max_difference(a, a * 2, 1e-4, 1e-5)[0]  # count
    assert not _max_difference(a, [np.array([1.0, np.nan, 3.0])], 1e-4, 1e-5)[0]


def test_profile_names_graphc_kernels_and_its_python(agreeing):
    profile = agreeing[1]["cases"][0]["profile"]
    names = [r["name"] for r in profile]
    assert "graphc Python (graph, key, dispatch)" in names
    assert any(n.startswith(("loop", "library")) for n in names), names
    assert sum(r["share"] for r in profile) == pytest.approx(1.0)
    assert [r["seconds"] for r in profile] == sorted((r["seconds"] for r in profile),
                                                     reverse=True)


def test_markdown_and_charts_are_written(agreeing, tmp_path, capsys):
    _, result, out, path = agreeing
    md = out["md"].read_text()
    assert "| graphc | ok |" in md and "| numpy | ok |" in md
    assert "| torch | not provided |" in md or not HAS["torch"]
    if HAS["matplotlib"]:
        for png in (out["png"], out["png"].with_name("r-start.png")):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:  # refused before anything runs
        assert main(["bench", str(path), "--plot", str(tmp_path / "x.png")]) == 2
        assert "--plot needs matplotlib" in capsys.readouterr().err


def _result(medians: dict[str, list[float]]) -> dict:
    return {"cases": [{"name": "c", "systems": {
        s: {"status": "ok", "steady": {"median": statistics.median(r), "rounds": r}}
        for s, r in medians.items()}}]}


def test_compare_flags_changes_beyond_the_noise():
    old = _result({"graphc": [1.0, 1.0, 1.0], "torch": [1.0, 1.2, 0.8]})
    new = _result({"graphc": [1.5, 1.5, 1.5], "torch": [1.1, 1.3, 0.9]})
    rows = {r["system"]: r for r in report.compare(old, new)}
    assert rows["graphc"]["change"] == pytest.approx(0.5)
    assert rows["graphc"]["noise"] == report.FLOOR and rows["graphc"]["flagged"]
    # torch: +10% against ±20% (old) + ±18.2% (new) of noise
    assert rows["torch"]["noise"] == pytest.approx(0.2 + 0.2 / 1.1)
    assert not rows["torch"]["flagged"]
    assert "<< slower" in report.compare_text(list(rows.values()))


def test_compare_on_the_command_line(agreeing, disagreeing, tmp_path, capsys):
    _, _, _, path = agreeing
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"not": "a result"}')
    assert main(["bench", str(path), "--compare", str(bogus)]) == 2
    assert "not a graphc bench result" in capsys.readouterr().err
    compared = disagreeing[2].split("compare (ms per call")[1]
    old = agreeing[1]["cases"][0]["systems"]["graphc"]["steady"]["median"]
    new = disagreeing[1]["cases"][0]["systems"]["graphc"]["steady"]["median"]
    line = next(x.split() for x in compared.splitlines() if x.split()[1:2] == ["graphc"])
    assert line[2:5] == [report._ms(old), "->", report._ms(new)]
    assert line[5] == f"{(new / old - 1) * 100:+.1f}%"
    assert "numpy" not in compared  # disagreeing now: not timed, so not compared


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["bench", "no-such-suite"]) == 2
    assert "unknown target 'no-such-suite'" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "missing.py")]) == 2
    assert "no file" in capsys.readouterr().err
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["bench", str(empty)]) == 2
    assert "defines no graphc_case()" in capsys.readouterr().err
    assert main(["bench", "softmax", "--systems", "graphc,tensorflow"]) == 2
    assert "unknown systems ['tensorflow']" in capsys.readouterr().err
    from graphc.backends.cuda_device import gpu_status

    if not gpu_status().usable:
        assert main(["bench", "softmax", "--device", "gpu"]) == 2
        assert "graphc cannot use a GPU here: " + gpu_status().reason in capsys.readouterr().err


def test_help_exits_0_without_running_anything():
    for command in (["-m", "graphc.cli", "bench", "--help"], ["-m", "graphc.bench", "--help"]):
        done = subprocess.run([sys.executable, *command], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert "usage: graphc bench" in done.stdout and "graphc_case()" in done.stdout


def test_the_documented_user_file_with_every_optional_case(env, tmp_path):
    """docs/benchmarking.md's my_model.py: graphc, NumPy, PyTorch and JAX agree and are
    timed (or are "not installed" where the bench extra is absent)."""
    from graphc.bench import benchmark

    doc = (Path(__file__).resolve().parents[2] / "docs" / "benchmarking.md").read_text()
    source = doc.split('```python\n"""my_model.py')[1].split("```")[0]
    path = tmp_path / "my_model.py"
    path.write_text('"""my_model.py' + source)
    result = benchmark(str(path), systems=["graphc", "numpy", "torch", "jax"], quick=True,
                       rounds=2)
    jsonschema.validate(result, SCHEMA)
    systems = result["cases"][0]["systems"]
    for name in ("graphc", "numpy", "torch", "jax"):
        expected = "ok" if name not in HAS or HAS[name] else "not installed"
        assert systems[name]["status"] == expected, systems[name]
        if expected == "ok":
            assert systems[name]["steady"]["median"] > 0


def test_a_system_not_installed_is_listed_never_faked(agreeing, monkeypatch):
    """The measurement with JAX's import made to fail here (in this process): listed as
    "not installed", not run, the others timed as usual."""
    from graphc.bench import case, child

    _, _, _, path = agreeing
    path.write_text(AGREEING + "\ndef jax_case():\n    raise AssertionError('called')\n")
    real = case.installed
    monkeypatch.setattr(case, "installed", lambda s: s != "jax" and real(s))
    threads = numba.get_num_threads()  # (this process's own: left as it is)
    result = child.measure(str(path), ["graphc", "numpy", "jax"], quick=True, device="cpu",
                           threads=threads, rounds=1, profile=False)
    assert result["systems"]["jax"] == {"status": "not installed",
                                        "reason": "jax is not installed"}
    assert result["systems"]["numpy"]["status"] == "ok"
    assert result["systems"]["graphc"]["threads"] == threads
