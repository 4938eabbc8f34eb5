"""State references and owner discovery."""

import numpy as np
import pytest

import graphc
from graphc.jit.state import DataRef, GradRef, HyperRef, find_owners


def test_owners_are_found_through_any_live_reference():
    holder = {"w": graphc.Parameter([1., 2.])}
    w = holder["w"]
    w.grad = graphc.tensor([3., 4.])
    detached = w.detach()  # a new node over the same array still belongs to w
    owners = find_owners([w._node, detached._node, w.grad._node])
    assert isinstance(owners[w._node.uid], DataRef) and owners[w._node.uid].tensor is w
    assert owners[detached._node.uid].tensor is w
    grad_ref = owners[w.grad._node.uid]
    assert isinstance(grad_ref, GradRef) and grad_ref.tensor is w


def test_refs_read_current_values_and_write_through_the_doors():
    w = graphc.Parameter([1., 2.])
    ref = DataRef(w)
    t = w._node.type
    w += 1
    np.testing.assert_array_equal(ref.read(t), [2., 3.])  # realized on demand
    ref.write(np.array([7., 8.], np.float32), t)
    np.testing.assert_array_equal(w.numpy(), [7., 8.])
    g = GradRef(w)
    g.write(np.array([1., 1.], np.float32), t)
    assert g.has_grad() and np.array_equal(w.grad.numpy(), [1., 1.])
    g.write(None, None)
    assert w.grad is None


def test_a_hyper_parameter_ref_reads_its_group_now_and_is_read_only():
    group = {"lr": 0.1}
    scalar = graphc.tensor(0.1)
    ref = HyperRef(scalar, lambda: group["lr"] * 2)
    t = scalar._node.type
    assert ref.read(t) == np.float32(0.2) and ref.read(t).dtype == np.float32
    group["lr"] = 0.25
    assert ref.read(t) == np.float32(0.5) and ref.node().buffer == np.float32(0.5)
    with pytest.raises(TypeError, match="read-only"):
        ref.write(np.float32(1.0), t)
