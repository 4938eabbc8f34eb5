"""graphc.placeholder: typed inputs with concrete, None or named dimensions."""

import numpy as np
import pytest

import graphc
from graphc import TraceError
from graphc.jit.placeholder import bind_sizes, display_shape, probe_for, symbolic_probes


def test_placeholders_carry_a_type_and_a_name_but_no_value():
    x = graphc.placeholder((2, 3), dtype="int32", name="ids")
    assert x.shape == (2, 3) and x.dtype == np.int32 and x._node.attrs["name"] == "ids"
    assert x._node.buffer is None


def test_none_and_named_dimensions_get_their_own_probe_sizes():
    x = graphc.placeholder((None, "seq", 4))
    y = graphc.placeholder((None,))
    assert x.shape[0] == y.shape[0] == probe_for("?") != x.shape[1] == probe_for("seq")
    table = symbolic_probes([x._node])
    assert display_shape(x.shape, table) == (None, "seq", 4)
    assert bind_sizes([x._node, y._node], [(2, 5, 4), (2,)], ["x", "y"], table) == \
        tuple(sorted({(probe_for("?"), 2), (probe_for("seq"), 5)}))


def test_disagreeing_sizes_for_one_symbol_are_an_error():
    x = graphc.placeholder(("n", "n"))
    with pytest.raises(TraceError, match=r"dimensions named 'n' must have one size per call"):
        bind_sizes([x._node], [(2, 3)], ["x"], symbolic_probes([x._node]))


def test_bad_dimensions_are_rejected():
    with pytest.raises(ValueError, match="non-negative ints, None or names"):
        graphc.placeholder((2, -1))
