"""CLI user errors are one line on stderr and exit status 2, for every command
(issue 16, part 5)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.cli import main


@pytest.fixture
def dumped(tmp_path):
    x = graphc.placeholder((2,), name="x")
    graphc.function([x], {"y": x * 2}).dump(tmp_path / "f.graphc")
    return tmp_path / "f.graphc"


def _one_line(capsys, prefix: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(prefix) and err.count("\n") == 1, err
    return err


def test_viz_with_an_unknown_output_suffix(dumped, capsys):
    assert main(["viz", str(dumped), "-o", str(dumped.parent / "out.xyz")]) == 2
    err = _one_line(capsys, "graphc viz: graphc.viz.export: cannot tell the format")
    assert "out.xyz" in err and "Traceback" not in err


def test_run_with_a_missing_input_file(dumped, capsys):
    missing = dumped.parent / "absent.npy"
    assert main(["run", str(dumped), "--input", f"x={missing}"]) == 2
    _one_line(capsys, f"graphc run: input {str(missing)!r}: no such file")


def test_run_with_an_input_of_the_wrong_shape(dumped, capsys):
    np.save(dumped.parent / "x.npy", np.ones(3, np.float32))
    assert main(["run", str(dumped), "--input", f"x={dumped.parent / 'x.npy'}",
                 "--out", str(dumped.parent)]) == 2
    _one_line(capsys, "graphc run: ")


def test_a_bad_option_is_one_line_too(dumped, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["viz", str(dumped), "--stage", "nope"])
    assert exit_info.value.code == 2
    err = _one_line(capsys, "graphc viz: argument --stage: invalid choice: 'nope'")
    assert err.rstrip().endswith("(see graphc viz --help)")
