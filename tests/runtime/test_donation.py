"""In-place updates in lazy optimizer steps (graphc/runtime/donation.py): ``opt.step()``
writes each new value over the old one when nothing else can read the old one, and
never otherwise."""

from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
from graphc.autodiff import GradManager
from graphc.optimizer import SGD, Adagrad, Adam, AdamW
from graphc.runtime import program
from tests.jit.training import X, Y, address


@pytest.fixture(autouse=True)
def compiled_backend(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")


def make(opt_class, net=None, **kwargs):
    graphc.random.seed(0)
    if net is None:
        net = M.Sequential(M.Linear(5, 16), M.ReLU(), M.Linear(16, 3))
    gm = GradManager().attach(net.parameters())
    opt = opt_class(net.parameters(), lr=0.1, **kwargs)

    def step(inside=False):
        with gm:
            loss = F.cross_entropy(net(graphc.tensor(X)), graphc.tensor(Y))
            gm.backward(loss)
            if inside:  # MegEngine's other spelling: the graph is still kept here
                opt.step().clear_grad()
        if not inside:
            opt.step().clear_grad()
        return loss

    return net, opt, step


@pytest.fixture
def donated(monkeypatch):
    """The pairs each Program run was told it may compute in place (one list per run)."""
    calls = []
    real = program.Program.run

    def run(self, args, donate=()):
        calls.append(list(donate))
        return real(self, args, donate)

    monkeypatch.setattr(program.Program, "run", run)
    return calls


def reference(opt_class, steps, **kwargs):
    """The same run on the reference interpreter (no Programs, nothing in place)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHC_BACKEND", "interp")
        net, _, step = make(opt_class, **kwargs)
        losses = [step().item() for _ in range(steps)]
        return losses, [p.numpy() for p in net.parameters()]


@pytest.mark.parametrize("opt_class, kwargs, state", [
    (SGD, {}, None), (SGD, {"momentum": 0.9}, "momentum_buffer"),
    (SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, "momentum_buffer"),
    (Adam, {}, "exp_avg"), (Adam, {}, "exp_avg_sq"),
    (AdamW, {"weight_decay": 0.1}, "exp_avg"), (Adagrad, {}, "square_avg")])
def test_state_is_updated_in_its_own_buffer_and_matches_the_reference(opt_class, kwargs,
                                                                       state):
    """From the third step, when every Program the steps use is compiled (SGD's first
    step, before its momentum buffer exists, is a graph of its own), since a run that
    compiles does not update in place (the compiler's leftovers hold the old values)."""
    net, opt, step = make(opt_class, **kwargs)
    losses = [step().item() for _ in range(2)]
    weight = net[0].weight
    tracked = [weight] + ([opt.state[weight][state]] if state else [])
    for _ in range(3):
        before = [address(t) for t in tracked]
        losses.append(step().item())
        assert [address(t) for t in tracked] == before
    want_losses, want_params = reference(opt_class, 5, **kwargs)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for got, want in zip(net.parameters(), want_params):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


HOLDERS = {
    "np.asarray": lambda w: np.asarray(w),  # the buffer itself
    "alias": lambda w: graphc.Tensor(w),  # another Tensor on the same node
    "detach": lambda w: w.detach(),  # a new Tensor on the same buffer
    "pending": lambda w: w * 1.0,  # a pending Tensor built on the old value
    "view": lambda w: realized(w.T),  # a realized view of the buffer
    "same-dtype astype": lambda w: w.astype(w.dtype),  # an op that returns its input
}


def realized(t):
    """``t``, computed (a Tensor holding its value: here, a view of another's buffer)."""
    graphc.realize(t)
    return t


@pytest.mark.parametrize("holder", HOLDERS)
def test_a_value_someone_still_holds_is_never_overwritten(holder):
    net, _, step = make(SGD)
    for _ in range(3):
        step()
    weight = net[0].weight
    old = weight.numpy()
    held = HOLDERS[holder](weight)
    step()
    assert not np.array_equal(weight.numpy(), old)  # the step did update the weight
    value = np.asarray(held) if holder == "np.asarray" else held.numpy()
    np.testing.assert_array_equal(value.T if holder == "view" else value, old)
    if holder != "np.asarray":
        del held  # the holder let go: the next steps update in place again
        step()
        before = address(weight)
        step()
        assert address(weight) == before


def test_a_step_while_another_manager_records_keeps_the_old_values_and_is_right(donated):
    """While a GradManager records, realized graphs are kept (they may still be
    differentiated through the old values), so nothing is donated; a step inside the
    ``with gm:`` block after ``gm.backward`` donates (the recording ended), and both
    give the reference's results."""
    net, _, step = make(SGD)
    losses = [step(inside=True).item() for _ in range(4)]
    assert donated and donated[-1]
    count = len(donated)
    outer = GradManager().attach([graphc.tensor(np.zeros(1, np.float32))])
    with outer:
        losses += [step().item() for _ in range(2)]
    assert len(donated) > count and all(pairs == [] for pairs in donated[count:])
    want_losses, want_params = reference(SGD, 6)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for got, want in zip(net.parameters(), want_params):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_a_read_only_array_a_parameter_shares_is_never_written_while_its_owner_holds_it():
    """``Parameter(a)`` shares a read-only ``a`` instead of copying it; the steps then
    update the parameter in new buffers (the owner's reference keeps ``a`` from being
    donated), so ``a`` keeps its values."""
    graphc.random.seed(0)
    net = M.Sequential(M.Linear(5, 16), M.ReLU(), M.Linear(16, 3))
    original = np.array(net[0].weight.numpy())
    shared = np.array(original)
    shared.flags.writeable = False
    net[0].weight = graphc.Parameter(shared)
    net, _, step = make(SGD, net=net)
    assert net[0].weight._node.buffer is shared
    for _ in range(4):
        step()
    np.testing.assert_array_equal(shared, original)
    assert not np.array_equal(net[0].weight.numpy(), original)


def test_no_decision_reads_a_reference_count():
    """Ownership is recorded (claim, expose), never read off ``sys.getrefcount``, which
    CPython does not promise and which races under threads."""
    root = Path(graphc.__file__).parent
    users = [str(p.relative_to(root)) for p in root.rglob("*.py")
             if "getrefcount" in p.read_text()]
    assert users == []


def test_an_owned_array_is_donated_again_once_its_exposure_is_replaced():
    """Exposure is for good, for that array: the step after an ``np.asarray`` computes into
    a new array, which the parameter owns, so the step after that updates in place."""
    net, _, step = make(SGD)
    for _ in range(3):
        step()
    weight = net[0].weight
    seen = np.asarray(weight)
    frozen = np.array(seen)
    step()
    assert address(weight) != seen.__array_interface__["data"][0]
    np.testing.assert_array_equal(seen, frozen)
    before = address(weight)
    step()
    assert address(weight) == before


def test_a_gradient_keeping_its_graph_is_differentiated_at_the_old_values():
    """A result of ``graphc.grad`` keeps its graph (for a gradient of it), which reads the
    parameter's old value: no step overwrites that value while the result lives."""
    net, _, step = make(SGD)
    for _ in range(3):
        step()
    weight = net[0].weight
    old = weight.numpy()
    x = graphc.tensor(np.full(old.shape, 0.5, np.float32))
    (g,) = graphc.grad((weight * x * x).sum(), [x])  # 2 w x, realized below
    np.testing.assert_allclose(g.numpy(), old, rtol=1e-6)
    step()
    assert not np.array_equal(weight.numpy(), old)
    (h,) = graphc.grad(g.sum(), [x])  # 2 w, at the value g was computed with
    np.testing.assert_allclose(h.numpy(), 2 * old, rtol=1e-6)
