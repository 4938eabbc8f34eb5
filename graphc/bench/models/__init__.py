"""Benchmark models, each written once in graphc and once in PyTorch with the same layers
and parameter names: LeNet-5, ResNet-18, ShuffleNet V2 ×0.5 and a small BERT. PyTorch is
imported only when a twin is asked for.

:data:`MODELS` maps a name to its :class:`ModelSpec` (constructors, input maker, loss,
full and tiny sizes, published parameter count), so one training step runs the same way
for every model:

>>> import graphc
>>> graphc.random.seed(0)
>>> spec = MODELS["lenet5"]
>>> model = spec.model()
>>> sum(p.size for p in model.parameters()) == spec.published_params
True
>>> inputs, target = spec.batch(2)
>>> [x.shape for x in inputs], target.shape
([(2, 1, 28, 28)], (2,))
"""

from __future__ import annotations

from .bert import MASK, Bert, BertConfig, bert_small, token_batch, torch_bert_small
from .lenet import lenet5, torch_lenet5
from .resnet import BasicBlock, ResNet18, resnet18, torch_resnet18
from .shufflenet import (
    InvertedResidual,
    ShuffleNetV2,
    channel_shuffle,
    shufflenet_v2_x0_5,
    torch_shufflenet_v2_x0_5,
)
from .spec import (
    Batch,
    ModelSpec,
    Size,
    classification_loss,
    copy_to_twin,
    image_batch,
    to_graphc,
    to_torch,
    torch_classification_loss,
    train_step,
)


def _image_model(name: str, build, twin, shape, tiny_shape, published: int,
                 tiny_options: dict | None = None, classes: int = 1000) -> ModelSpec:
    tiny = {"num_classes": 10, **(tiny_options or {})}
    return ModelSpec(name, build, twin, image_batch, classification_loss,
                     torch_classification_loss,
                     full=Size({"num_classes": classes}, {"shape": shape, "classes": classes}),
                     tiny=Size(tiny, {"shape": tiny_shape, "classes": tiny["num_classes"]}),
                     published_params=published)


def _bert(name: str, head: str) -> ModelSpec:
    config = BertConfig(head=head)
    tiny = BertConfig(vocab_size=50, hidden=16, heads=2, intermediate=32, max_positions=8,
                      head=head)
    return ModelSpec(name, bert_small, torch_bert_small, token_batch, classification_loss,
                     torch_classification_loss,
                     full=Size({"config": config}, {"config": config}),
                     tiny=Size({"config": tiny}, {"config": tiny}))


MODELS: dict[str, ModelSpec] = {
    # LeNet-5 needs 28×28 digits whatever its size; the others take any image size.
    "lenet5": _image_model("lenet5", lenet5, torch_lenet5, (1, 28, 28), (1, 28, 28),
                           61_706, classes=10),
    "resnet18": _image_model("resnet18", resnet18, torch_resnet18, (3, 224, 224),
                             (3, 32, 32), 11_689_512),
    "shufflenet_v2_x0_5": _image_model(
        "shufflenet_v2_x0_5", shufflenet_v2_x0_5, torch_shufflenet_v2_x0_5, (3, 224, 224),
        (3, 64, 64), 1_366_792),
    # The small BERT has no published count: the size is this project's choice (BERT-base's
    # 109,483,778 is checked through BertConfig.base() in the tests).
    "bert_small": _bert("bert_small", "classifier"),
    "bert_small_mlm": _bert("bert_small_mlm", "mlm"),
}

__all__ = ["MASK", "MODELS", "BasicBlock", "Batch", "Bert", "BertConfig", "InvertedResidual",
           "ModelSpec", "ResNet18", "ShuffleNetV2", "Size", "bert_small", "channel_shuffle",
           "classification_loss", "copy_to_twin", "image_batch", "lenet5", "resnet18",
           "shufflenet_v2_x0_5", "to_graphc", "to_torch", "token_batch", "torch_bert_small",
           "torch_classification_loss", "torch_lenet5", "torch_resnet18",
           "torch_shufflenet_v2_x0_5", "train_step"]
