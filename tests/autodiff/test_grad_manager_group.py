"""GradManagers together: nested (second order) and grouped (``gm | gm2``), each
seeing only what it should of the other's backward."""

from __future__ import annotations

import contextlib
import operator

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.autodiff import GradManager, GradManagerGroup

# ---- nested managers --------------------------------------------------------------

def _two_managers_of_x(seed: int) -> tuple:
    """Random data, x holding it, and two managers both attached to x."""
    data = np.random.default_rng(seed).random(6).astype(np.float32)
    x = graphc.tensor(data)
    return data, x, GradManager().attach([x]), GradManager().attach([x])


def test_nested_managers_give_second_order() -> None:
    # MegEngine's test_2nd_grad_with_manager.
    data, x, gm, gm2 = _two_managers_of_x(0)
    with gm:
        with gm2:
            y = F.cos(x)
            gm2.backward(y)
        np.testing.assert_allclose(x.grad.numpy(), -np.sin(data), rtol=1e-5)
        gm.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(data) - np.cos(data), rtol=1e-5)


def _nested(gm: GradManager, gm2: GradManager) -> contextlib.ExitStack:
    """gm2 records, then gm inside it."""
    stack = contextlib.ExitStack()
    stack.enter_context(gm2)
    stack.enter_context(gm)
    return stack


@pytest.mark.parametrize("together", [_nested, operator.or_], ids=["nested", "group"])
def test_a_manager_does_not_see_the_backward_of_one_recording_around_or_beside_it(
        together) -> None:
    # MegEngine's test_grad_manager_visibility_by_order (gm began recording after gm2,
    # so gm2's backward nodes are not part of gm's recording) and
    # test_grad_manager_group_visibility (gm | gm2: neither sees the other's backward).
    data, x, gm, gm2 = _two_managers_of_x(1)
    with together(gm, gm2):
        y = F.cos(x)
        gm2.backward(y)
        np.testing.assert_allclose(x.grad.numpy(), -np.sin(data), rtol=1e-5)
        gm.backward(x.grad)
        np.testing.assert_allclose(x.grad.numpy(), -np.sin(data), rtol=1e-5)
    assert not gm.recording and not gm2.recording


# ---- groups (gm | gm2) -------------------------------------------------------------

def test_a_group_records_both_managers() -> None:
    # MegEngine's test_grad_manager_group: both backwards of cos accumulate -2 sin(x).
    data, x, gm, gm2 = _two_managers_of_x(2)
    with gm | gm2:
        assert gm.recording and gm2.recording
        y = F.cos(x)
        gm.backward(y)
        gm2.backward(y)
        np.testing.assert_allclose(x.grad.numpy(), -2 * np.sin(data), rtol=1e-5)
    assert not gm.recording and not gm2.recording


def test_a_manager_around_a_group_sees_the_groups_backward() -> None:
    # Second order through an outer manager, as with nesting: d/dx of -sin x is -cos x.
    data = np.random.default_rng(4).random(6).astype(np.float32)
    x, w = graphc.tensor(data), graphc.tensor(data + 1)
    outer = GradManager().attach([x])
    gm, gm2 = GradManager().attach([x]), GradManager().attach([w])
    with outer:
        with gm2 | gm:
            y = F.cos(x) * w
            gm.backward(y)
            gm2.backward(y)
        np.testing.assert_allclose(x.grad.numpy(), -np.sin(data) * (data + 1), rtol=1e-5)
        np.testing.assert_allclose(w.grad.numpy(), np.cos(data), rtol=1e-5)
        outer.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(data) * (data + 1)
                               - np.cos(data) * (data + 1), rtol=1e-5)


def test_groups_merge_and_refuse_a_manager_already_recording() -> None:
    a, b, c = GradManager(), GradManager(), GradManager()
    group = (a | b) | c
    assert isinstance(group, GradManagerGroup) and group._gms == [a, b, c]
    assert (a | (b | c))._gms == [a, b, c]
    with pytest.raises(TypeError):
        a | 3
    with b, pytest.raises(RuntimeError, match="already recording"):
        with a | b:
            pass
    assert not a.recording  # the members that started before the error were released
