"""Specialising a graph built over symbolic dimensions to concrete sizes."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import TraceError
from graphc.interp import run
from graphc.jit.specialize import check_generic, specialize


def test_shapes_attributes_and_size_scalars_follow_the_bound_size():
    x = graphc.placeholder((None, 4), name="x")
    y = F.flatten(x).reshape(-1, 2).mean()  # reshape targets and the mean's 1/n follow
    probe = x.shape[0]
    (node,), mapping = specialize([y._node], {probe: 3})
    placeholder = next(n for n in mapping.values() if n.op == "placeholder")
    assert placeholder.type.shape == (3, 4)
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    # Interpret the specialised graph with the placeholder replaced by a value.
    from graphc.ir import buffer_node, rebuild, topo_order

    new = {placeholder.uid: buffer_node(a, placeholder.type.device)}
    for n in topo_order([node], stop=lambda n: not n.inputs):
        if n.uid not in new:
            new[n.uid] = rebuild(n, tuple(new[i.uid] for i in n.inputs)) if n.inputs else n
    assert run([new[node.uid]])[new[node.uid].uid] == pytest.approx(a.mean())


def test_using_the_size_as_a_number_is_found():
    x = graphc.placeholder((None, 2))
    first_rows = x[: x.shape[0] - 1]
    with pytest.raises(TraceError, match=r"slice built at test_specialize.py:\d+ does not "
                                         r"follow.*Python number"):
        check_generic([first_rows._node], [x.shape[0]])
