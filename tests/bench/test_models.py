"""The benchmark models (graphc/bench/models): parameter counts against the published
ones, output shapes, and against their PyTorch twins — the same parameters, the same loss
and gradients on the same batch (reference interpreter), and one compiled SGD step that
matches the twin's gradients and lowers the loss.

Twin checks need PyTorch (the ``bench`` extra) and skip without it. A compiled training
step compiles a few dozen kernels on a cold cache: LeNet-5's and the small BERT's run
here, the two deep CNNs' (well over a minute cold) are marked slow.

Float32 tolerances: the losses agree to a few units in 1e-6. Gradients agree as closely
in the layers after the last ReLU, but a ReLU input a rounding error away from zero may
fall on the other side in graphc than in PyTorch (both are within float32 rounding of
the float64 result; in float64 the two agree to 1e-13), which moves the gradients below
it by up to about 1% of their norm: those are compared more loosely.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc.autodiff import GradManager
from graphc.bench.models import (
    MODELS,
    BertConfig,
    bert_small,
    channel_shuffle,
    copy_to_twin,
    resnet18,
    shufflenet_v2_x0_5,
    to_graphc,
    to_torch,
    torch_bert_small,
    train_step,
)

BATCH = 4
# Parameters after the model's last ReLU (their gradients see no ReLU flip).
HEAD = {"lenet5": ("11.weight", "11.bias"), "resnet18": ("fc.weight", "fc.bias"),
        "shufflenet_v2_x0_5": ("fc.weight", "fc.bias"),
        "bert_small": ("classifier.weight", "classifier.bias", "pooler.weight"),
        "bert_small_mlm": ("decoder_bias", "transform_norm.weight", "transform.weight")}
# Compiled steps of the deep CNNs take over a minute on a cold kernel cache.
SLOW_COMPILED = {"resnet18", "shufflenet_v2_x0_5", "bert_small_mlm"}


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (the bench extra) is not installed: "
                                               "no twin to compare with")


def _count(model) -> int:
    return sum(p.size for p in model.parameters())


def _tiny(name: str):
    """A tiny graphc model from a fixed seed, and its batch."""
    spec = MODELS[name]
    graphc.random.seed(0)
    return spec, spec.model(tiny=True), spec.batch(BATCH, tiny=True)


def _twin_loss_and_grads(spec, twin, inputs, target):
    loss = spec.twin_loss(twin(*to_torch(inputs)), to_torch([target])[0])
    loss.backward()
    return loss.item(), {n: p.grad.numpy() for n, p in twin.named_parameters()}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a.ravel() - b.ravel()) / max(np.linalg.norm(b), 1e-30))


# ---- without PyTorch -----------------------------------------------------------------


def test_models_do_not_import_torch():
    code = ("import sys, graphc.bench.models as m; m.MODELS['resnet18'].model(tiny=True); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", [n for n, s in MODELS.items() if s.published_params])
def test_full_size_parameter_count_is_the_published_one(name):
    spec = MODELS[name]
    assert _count(spec.model()) == spec.published_params


@pytest.mark.parametrize("name", list(MODELS))
def test_tiny_forward_shape(name):
    spec, model, (inputs, target) = _tiny(name)
    out = model(*to_graphc(inputs))
    classes = spec.tiny.options.get("num_classes")
    if name.startswith("bert"):
        config = spec.tiny.options["config"]
        classes = config.num_classes if config.head == "classifier" else config.vocab_size
    assert out.shape == target.shape + (classes,)
    assert np.isfinite(out.numpy()).all()


def test_full_size_models_take_their_published_input_sizes():
    assert resnet18(1000)(graphc.tensor(np.zeros((1, 3, 224, 224), np.float32))).shape \
        == (1, 1000)
    x = graphc.tensor(np.zeros((1, 3, 224, 224), np.float32))
    assert shufflenet_v2_x0_5(1000)(x).shape == (1, 1000)


def test_channel_shuffle_interleaves_the_groups():
    x = np.arange(2 * 6 * 2 * 1, dtype=np.float32).reshape(2, 6, 2, 1)
    want = x.reshape(2, 3, 2, 2, 1).transpose(0, 2, 1, 3, 4).reshape(2, 6, 2, 1)
    np.testing.assert_array_equal(channel_shuffle(graphc.tensor(x), 3).numpy(), want)


def test_shufflenet_units_use_depthwise_convolutions():
    unit = shufflenet_v2_x0_5().stage3[1]
    dw = unit.branch2[3]
    assert (dw.groups, dw.weight.shape) == (48, (48, 1, 1, 3, 3))
    assert unit.branch1 is None and shufflenet_v2_x0_5().stage3[0].branch1 is not None


def test_bert_config_is_checked():
    with pytest.raises(ValueError, match="multiple of heads"):
        BertConfig(hidden=10, heads=4)
    with pytest.raises(ValueError, match="head must be"):
        BertConfig(head="pooler")


def test_bert_segments_default_to_zero():
    _, model, ((tokens, segments), _) = _tiny("bert_small")
    np.testing.assert_allclose(model(graphc.tensor(tokens)).numpy(),
                               model(graphc.tensor(tokens), graphc.tensor(0 * segments)).numpy())


# ---- against the PyTorch twins (reference interpreter) -------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_twin_has_the_same_parameters(torch, name):
    spec, model, _ = _tiny(name)
    ours = {n: p.size for n, p in model.named_parameters()}
    theirs = {n: p.numel() for n, p in spec.twin(tiny=True).named_parameters()}
    assert ours == theirs
    if spec.published_params:
        assert sum(p.numel() for p in spec.twin().parameters()) == spec.published_params


@pytest.mark.parametrize("name", list(MODELS))
def test_twin_computes_the_same_loss_and_gradients(torch, name):
    spec, model, (inputs, target) = _tiny(name)
    twin = copy_to_twin(model, spec.twin(tiny=True))
    params = dict(model.named_parameters())
    gm = GradManager().attach(list(params.values()))
    with gm:
        loss = spec.loss(model(*to_graphc(inputs)), graphc.tensor(target))
        gm.backward(loss)
    want, grads = _twin_loss_and_grads(spec, twin, inputs, target)
    assert loss.item() == pytest.approx(want, rel=2e-5, abs=1e-6)
    for n in HEAD[name]:
        assert _rel(params[n].grad.numpy(), grads[n]) < 1e-4, n
    ours = np.concatenate([params[n].grad.numpy().ravel() for n in grads])
    assert _rel(ours, np.concatenate([g.ravel() for g in grads.values()])) < 3e-2


def test_copy_to_twin_refuses_a_different_model(torch):
    model = MODELS["lenet5"].model()
    with pytest.raises(ValueError, match="names differ"):
        copy_to_twin(model, MODELS["bert_small"].twin(tiny=True))


# ---- a compiled training step --------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow)
                                  if n in SLOW_COMPILED else n for n in MODELS])
def test_compiled_training_step_matches_the_twin(torch, name, monkeypatch):
    """One SGD step compiled: the loss is the twin's, the update is ``lr`` times the
    twin's gradient, and the second step's loss is lower."""
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    spec, model, (inputs, target) = _tiny(name)
    twin = copy_to_twin(model, spec.twin(tiny=True))
    want, grads = _twin_loss_and_grads(spec, twin, inputs, target)
    params = dict(model.named_parameters())
    before = {n: params[n].numpy().copy() for n in HEAD[name]}
    lr = 0.01
    step = train_step(spec, model, inputs, target, lr=lr)
    first = step().item()
    assert first == pytest.approx(want, rel=2e-5, abs=1e-6)
    for n in HEAD[name]:  # p - lr * g rounds to float32: allow eps * |p| more
        err = np.linalg.norm((before[n] - params[n].numpy()).ravel() - lr * grads[n].ravel())
        eps = np.finfo(np.float32).eps
        assert err < 1e-4 * lr * np.linalg.norm(grads[n]) + eps * np.linalg.norm(before[n]), n
    assert step().item() < first


@pytest.mark.slow
def test_bert_base_parameter_count():
    """bert-base-uncased with a two-class head (Hugging Face's
    BertForSequenceClassification): 109,483,778 parameters (5 s to construct)."""
    assert _count(bert_small(BertConfig.base(), init=False)) == 109_483_778
    pytest.importorskip("torch", reason="PyTorch (the bench extra) is not installed")
    assert sum(p.numel() for p in torch_bert_small(BertConfig.base()).parameters()) \
        == 109_483_778
