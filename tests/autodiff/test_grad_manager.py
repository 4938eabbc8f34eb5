"""GradManager with MegEngine's semantics (megengine_api.md §7 items 22-28, issue 4).

Expected values are closed forms or MegEngine's documented outputs (the seed example).
"""

from __future__ import annotations

import gc
import re
import weakref

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import lazy
from graphc.autodiff import GradManager
from graphc.ir import count_nodes
from graphc.ir.state import current


def _lines(text: str) -> list[str]:
    """Printed tensors, compared without the indentation NumPy puts on inner rows."""
    return [line.strip() for line in text.strip().splitlines()]


# ---- the seed example (MegEngine's basic-concepts page, ported) -------------------

def _seed_inputs():
    x = graphc.tensor([1., 3., 5.]).reshape(1, 3)
    w = graphc.tensor([2., 4., 6.]).reshape(3, 1)
    b = graphc.tensor(-1.)
    return x, w, b


def test_seed_example_with_block(capsys) -> None:
    x, w, b = _seed_inputs()
    gm = GradManager().attach([w, b])
    with gm:
        p = F.matmul(x, w)
        y = p + b
        gm.backward(y)
    print(w.grad)
    print(b.grad)
    # The seed prints b.grad as [1.] for its 1-element b; here b is 0-d, so is its grad.
    assert _lines(capsys.readouterr().out) == [
        "Tensor([[1.]", "[3.]", "[5.]], device=xpux:0)", "Tensor(1.0, device=xpux:0)"]


def test_seed_example_record_and_release() -> None:
    x, w, b = _seed_inputs()
    gm = GradManager().attach([w, b])
    gm.record()
    p = F.matmul(x, w)
    y = p + b
    gm.backward(y)
    gm.release()
    np.testing.assert_array_equal(w.grad.numpy(), [[1.], [3.], [5.]])
    assert b.grad.shape == () and b.grad.item() == 1.0


def test_seed_example_detach(capsys) -> None:
    x, w, b = _seed_inputs()
    gm = GradManager().attach([w, b])
    with gm:
        p = F.matmul(x, w)
        y = p + b.detach()
        gm.backward(y)
    print(b.grad)
    assert capsys.readouterr().out.strip() == "None"
    np.testing.assert_array_equal(w.grad.numpy(), [[1.], [3.], [5.]])


# ---- attach -----------------------------------------------------------------------

def test_attach_returns_self_takes_one_or_many_deduplicates_and_keeps_order() -> None:
    w1, w2, w3 = graphc.tensor(1.), graphc.tensor(2.), graphc.tensor(3.)
    gm = GradManager()
    assert gm.attach(w2) is gm
    assert [id(t) for t in gm.attached_tensors()] == [id(w2)]
    gm.attach([w1, w2, w3, w1])
    gm.attach(t for t in [w3])
    assert [id(t) for t in gm.attached_tensors()] == [id(w2), id(w1), id(w3)]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "bool"])
def test_integer_and_bool_tensors_cannot_be_attached(dtype: str) -> None:
    with pytest.raises(AssertionError, match=dtype):
        GradManager().attach(graphc.tensor(np.zeros(2, dtype=dtype)))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_float_tensors_attach_and_get_a_grad_of_their_dtype(dtype: str) -> None:
    w = graphc.tensor([1.0, 2.0], dtype=dtype)
    gm = GradManager().attach(w)
    with gm:
        gm.backward((w * w).sum())
    assert w.grad.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])


def test_callbacks_are_chained_in_order_and_see_the_tensor() -> None:
    w = graphc.tensor([1.0, 2.0])
    calls = []

    def double(t, g):
        calls.append(("double", t is w))
        return g * 2

    def plus_one(t, g):
        calls.append(("plus_one", t is w))
        return g + 1

    gm = GradManager().attach(w, callbacks=double)
    gm.attach(w, callbacks=[plus_one])  # attaching again adds callbacks
    with gm:
        gm.backward((w * w).sum())
    assert calls == [("double", True), ("plus_one", True)]
    np.testing.assert_array_equal(w.grad.numpy(), 2 * np.array([2.0, 4.0]) + 1)


def test_attached_tensors_are_held_weakly() -> None:
    gm = GradManager()
    kept, dropped = graphc.tensor([1.0]), graphc.tensor([2.0])
    ref = weakref.ref(dropped)
    gm.attach([kept, dropped])
    del dropped
    gc.collect()
    assert ref() is None
    assert [id(t) for t in gm.attached_tensors()] == [id(kept)]


def test_attached_temporaries_are_collected_after_each_step() -> None:
    # MegEngine's test_attach_temporary.
    w = graphc.tensor(2.0)
    gm = GradManager().attach(w)
    for i in range(3):
        called = []
        with gm:
            x = graphc.tensor(float(i))
            ref = weakref.ref(x)

            def callback(t, g, called=called, ref=ref):
                called.append(t is ref())
                return g

            gm.attach(x, callbacks=callback)
            gm.backward(x * w)
        assert called == [True]
        assert x.grad.item() == 2.0
        del x
        gc.collect()
        assert ref() is None
    assert w.grad.item() == 0.0 + 1.0 + 2.0


def test_an_intermediate_attached_while_recording_gets_a_grad() -> None:
    a = graphc.tensor([1.0])
    gm = GradManager()
    with gm:
        b = a * 3
        gm.attach(b)
        c = b + 1
        gm.backward(c)
    assert b.grad.item() == 1.0
    assert a.grad is None  # a was never attached


def test_gradients_flow_through_an_attached_intermediate_to_earlier_tensors() -> None:
    x = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(x)
    with gm:
        y = x * 2
        gm.attach(y)
        gm.backward((y * y).sum())
    np.testing.assert_array_equal(y.grad.numpy(), [4.0, 8.0])   # 2y
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 16.0])  # 2y * 2


def test_only_uses_after_attaching_an_intermediate_count() -> None:
    x = graphc.tensor([3.0])
    gm = GradManager()
    with gm:
        h = x * 2
        before = h * 5  # uses h before it is attached
        gm.attach(h)
        gm.backward((before + h * 7).sum())
    assert h.grad.item() == 7.0


def test_attaching_mid_recording_keeps_other_managers_gradients() -> None:
    x = graphc.tensor([1.0, 2.0])
    outer, inner = GradManager().attach(x), GradManager()
    with outer:
        y = x * 2
        with inner:
            inner.attach(x)  # rewraps x for inner; outer still sees uses before it
            inner.backward((x * 3).sum())
        outer.backward(y.sum())
    np.testing.assert_array_equal(x.grad.numpy(), [3.0 + 2.0, 3.0 + 2.0])


def test_gradients_are_taken_at_the_value_recording_began_with() -> None:
    w = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(w)
    with gm:
        w *= 2  # an in-place update while recording is part of the recorded function
        gm.backward((w * w).sum())
    np.testing.assert_array_equal(w.grad.numpy(), [8.0, 16.0])  # d/dw0 (2 w0)²


# ---- recording --------------------------------------------------------------------

def test_record_twice_is_an_error_and_release_is_idempotent() -> None:
    gm = GradManager()
    gm.record()
    with pytest.raises(RuntimeError, match="already recording"):
        gm.record()
    gm.release()
    gm.release()
    assert not gm.recording
    with gm:
        assert gm.recording
    assert not gm.recording


def test_backward_when_not_recording_is_an_error() -> None:
    w = graphc.tensor([1.0])
    gm = GradManager().attach(w)
    with pytest.raises(RuntimeError, match="not recording"):
        gm.backward((w * 2).sum())
    with gm:
        gm.backward((w * 2).sum())
    with pytest.raises(RuntimeError, match="not recording"):
        gm.backward((w * 2).sum())  # backward released the recording


def test_backward_without_y_releases() -> None:
    gm = GradManager()
    gm.record()
    gm.backward()
    assert not gm.recording


def test_a_failed_backward_still_releases() -> None:
    w = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(w)
    gm.record()
    with pytest.raises(graphc.ShapeError, match=r"dy of shape \(3,\)"):
        gm.backward(w * 2, graphc.tensor([1.0, 2.0, 3.0]))
    assert not gm.recording and not current().stamps
    assert w.grad is None


def test_backward_of_an_integer_output_is_an_error() -> None:
    w = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(w)
    with gm, pytest.raises(graphc.DTypeError, match="argmax.*not differentiable"):
        gm.backward(F.argmax(w))


def test_backward_with_lists_of_y_and_dy() -> None:
    w, b = graphc.tensor([1.0, 2.0]), graphc.tensor(3.0)
    gm = GradManager().attach([w, b])
    with gm:
        y1 = w * b
        y2 = (w + b).sum()
        gm.backward([y1, y2], [graphc.tensor([1.0, 10.0]), graphc.tensor(2.0)])
    # d/dw = dy1 * b + dy2; d/db = sum(dy1 * w) + 2 * dy2
    np.testing.assert_array_equal(w.grad.numpy(), [1 * 3 + 2, 10 * 3 + 2])
    assert b.grad.item() == 1 * 1 + 10 * 2 + 2 * 2


def test_a_custom_dy_scales_the_gradients() -> None:
    x, w, b = _seed_inputs()
    gm = GradManager().attach([w, b])
    with gm:
        gm.backward(F.matmul(x, w) + b, graphc.tensor([[2.5]]))
    np.testing.assert_array_equal(w.grad.numpy(), [[2.5], [7.5], [12.5]])
    assert b.grad.item() == 2.5


def test_backward_accumulates_into_grad() -> None:
    w = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(w)
    for _ in range(2):
        with gm:
            gm.backward((w * w).sum())
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 8.0])
    w.grad = None
    with gm:
        gm.backward((w * 3).sum())
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_an_attached_tensor_y_does_not_depend_on_keeps_grad_none() -> None:
    # MegEngine's test_no_dependency.
    x = graphc.tensor(3.0)
    w, w_no_dep = graphc.tensor(1.0), graphc.tensor(1.0)
    gm = GradManager().attach(w).attach(w_no_dep)
    with gm:
        out1 = x * w
        out2 = w_no_dep * out1  # noqa: F841  (computed, but not part of the loss)
        gm.backward(out1.sum())
    assert w.grad.item() == 3.0
    assert w_no_dep.grad is None


def test_where_gives_zero_grad_to_the_unselected_branch() -> None:
    # MegEngine's test_empty_grad_in_backward.
    x, y = graphc.tensor(np.full(10, 0.5, np.float32)), graphc.tensor(np.ones(10, np.float32))
    gm = GradManager().attach([x, y])
    with gm:
        gm.backward(F.where(x > 0.7, x, y).sum())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(10))
    np.testing.assert_array_equal(y.grad.numpy(), np.ones(10))


def test_values_computed_before_recording_are_constants() -> None:
    w = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(w)
    c = w * 3  # before record(): a constant for this manager
    with gm:
        gm.backward((c * w).sum())
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 6.0])  # c, not 2 * 3w


def test_an_operation_repeated_while_recording_counts_even_if_hash_consed() -> None:
    w = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(w)
    before = w * -1  # -1 is a key constant, so the node is hash-consed
    with gm:
        during = w * -1  # the same node as `before`, returned again while recording
        assert during._node is before._node
        gm.backward((during * w).sum())
    np.testing.assert_array_equal(w.grad.numpy(), [-2.0, -4.0])  # d(-w²)/dw


def test_detach_stops_gradients() -> None:
    w = graphc.tensor([1.0, 2.0])
    gm = GradManager().attach(w)
    with gm:
        pending = w * 1  # detaching a pending value and a realized one
        gm.backward((pending.detach() * w + w.detach() * 0.5).sum())
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])


def test_a_parameter_used_only_through_detach_is_not_updated() -> None:
    # MegEngine's integration test_grad_detach, with a hand-written SGD step.
    w1, w2 = graphc.tensor([1.0, 2.0]), graphc.tensor([3.0, 4.0])
    gm = GradManager().attach([w1, w2])
    with gm:
        hidden = (w1 * 2).detach()
        gm.backward((hidden * w2).sum())
    assert w1.grad is None
    for w in (w1, w2):
        if w.grad is not None:
            w -= 0.1 * w.grad
    np.testing.assert_array_equal(w1.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(w2.numpy(), [3.0 - 0.2, 4.0 - 0.4], rtol=1e-6)


def test_an_in_place_multiply_is_differentiated() -> None:
    # MegEngine's test_grad_inplace: y = x * x; y *= y  ->  dy/dx = 4x³.
    data = np.array([0.5, 1.5, -2.0], np.float32)
    x = graphc.tensor(data)
    gm = GradManager().attach(x)
    with gm:
        y = x * x
        y *= y
        gm.backward(y, F.ones_like(y))
    np.testing.assert_allclose(x.grad.numpy(), 4 * data ** 3, rtol=1e-6)


def _loss_grads(print_inside: bool, capsys) -> np.ndarray:
    w = graphc.tensor([0.5, -1.0, 0.2])
    gm = GradManager().attach(w)
    with gm:
        hidden = F.tanh(w * 3)
        loss = (hidden * hidden).sum()
        if print_inside:
            print(loss, hidden)
            loss.numpy()
            hidden.item(1)
        gm.backward(loss)
    capsys.readouterr()
    return w.grad.numpy()


def test_printing_the_loss_inside_the_block_does_not_cut_the_gradient(capsys) -> None:
    with_print = _loss_grads(True, capsys)
    data = np.array([0.5, -1.0, 0.2])
    want = 2 * np.tanh(3 * data) * (1 - np.tanh(3 * data) ** 2) * 3
    np.testing.assert_allclose(with_print, want, rtol=1e-5)
    np.testing.assert_array_equal(with_print, _loss_grads(False, capsys))


# ---- cost and memory --------------------------------------------------------------

def test_recording_stamps_built_nodes_only_while_recording() -> None:
    w = graphc.tensor([1.0])
    gm = GradManager().attach(w)
    assert not current().stamps
    y = w * 2
    assert y._node.inputs == (w._node, y._node.inputs[1])  # no wrapper nodes
    with gm:
        assert current().stamps == [gm._recorded]
        gm.backward((w * 2).sum())
    assert not current().stamps
    gm.record()
    gm.release()
    assert not current().stamps


def test_a_training_loop_keeps_its_graph_bounded() -> None:
    w = graphc.tensor(np.ones(3, np.float32))
    x, target = graphc.tensor([1.0, 2.0, 3.0]), graphc.tensor([2.0, 2.0, 2.0])
    gm = GradManager().attach(w)
    graph_sizes = []
    for step in range(1000):
        with gm:
            loss = ((w * x - target) ** 2).sum()
            gm.backward(loss)
        w -= 0.01 * w.grad
        w.grad = None
        assert not current().kept  # tensors kept for recording were let go at release
        if step % 2:
            graphc.realize(w)  # as optimizer.step() does
        graph_sizes.append(count_nodes([w._node]))
    # Realized every other step, w's graph holds at most one step of pending nodes.
    assert max(graph_sizes) == max(graph_sizes[:10]) and max(graph_sizes) < 40
    np.testing.assert_allclose(w.numpy(), [2.0, 1.0, 2 / 3], rtol=1e-4)


def test_an_unread_training_loop_stays_bounded_by_the_depth_limit() -> None:
    w = graphc.tensor(np.ones(2, np.float32))
    gm = GradManager().attach(w)
    for _ in range(300):
        with gm:
            gm.backward(((w * 2 - 1) ** 2).sum())
        w -= 0.01 * w.grad
        w.grad = None
    assert count_nodes([w._node]) <= lazy.MAX_PENDING_DEPTH + 50
    assert re.match(r"Tensor\(\[", repr(w))
