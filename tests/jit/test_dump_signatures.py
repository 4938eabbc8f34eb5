"""A jit function's dump() writes the traced signature it is asked for, never silently
the latest one (issue 16, part 5)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc


@graphc.jit
def _affine(x, scale):
    return x * scale + 1


def test_dump_takes_the_signature_to_write(tmp_path):
    a, b = np.arange(2, dtype=np.float32), np.arange(3, dtype=np.float32)
    _affine(a, 2.0)
    _affine(b, 2.0)  # the latest call
    _affine.dump(tmp_path / "two.graphc", a, 2.0)
    loaded = graphc.load_function(tmp_path / "two.graphc")
    assert loaded.input_nodes[0].type.shape == (2,)
    np.testing.assert_array_equal(loaded(a), a * 2 + 1)


def test_dump_without_arguments_refuses_to_guess(tmp_path):
    f = graphc.jit(lambda x: x - 1)
    f(np.zeros(2, np.float32))
    f.dump(tmp_path / "one.graphc")  # one signature: no question which
    f(np.zeros((2, 2), np.float32))
    with pytest.raises(graphc.TraceError, match=r"has 2 traced signatures \(x: "
                                               r"float32\[2\]; x: float32\[2, 2\]\)"):
        f.dump(tmp_path / "which.graphc")
    with pytest.raises(graphc.TraceError, match=r"not traced for arguments like these "
                                               r"\(int32\[5\]\)"):
        f.dump(tmp_path / "which.graphc", np.zeros(5, np.int32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.graphc"]
