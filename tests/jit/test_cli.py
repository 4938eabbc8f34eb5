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
