"""ResNet-18 written as MegEngine's official model file is (MegEngine/Models,
``official/vision/classification/resnet/model.py``): ``import graphc as mge`` where it
has ``import megengine as mge``, and a factory decorated with ``@hub.pretrained``. The
layers are graphc's benchmark ResNet-18 (``graphc/bench/models/resnet.py``).

    python examples/resnet18.py     # a few training steps on random 32×32 images

``resnet18()`` builds a random model; ``resnet18(pretrained=True)`` refuses the URL
below, which names a pickled MegEngine file (graphc never unpickles), and says where a
converted file would go (docs/hub.md).
"""

import graphc as mge
import graphc.hub as hub
import graphc.module as M
from graphc.bench.models import image_batch
from graphc.bench.models.resnet import BasicBlock, ResNet18

__all__ = ["BasicBlock", "ResNet18", "resnet18"]


@hub.pretrained(
    "https://data.megengine.org.cn/models/weights/resnet18_naiveaug_70312_78a63ca6.pkl"
)
def resnet18(**kwargs) -> M.Module:
    """Constructs a ResNet-18 model (``num_classes=1000`` by default)."""
    return ResNet18(**kwargs)


if __name__ == "__main__":
    from quick_train import report, train

    mge.random.seed(0)
    (images,), labels = image_batch(4, shape=(3, 32, 32), classes=10)
    report("resnet18", train(resnet18(num_classes=10), (images,), labels, lr=0.01))
