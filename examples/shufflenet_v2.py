"""ShuffleNet V2 written as MegEngine's official model file is (MegEngine/Models,
``official/vision/classification/shufflenet/model.py``): ``import graphc as mge`` and
factories decorated with ``@hub.pretrained``. The layers are graphc's benchmark
ShuffleNet V2 (``graphc/bench/models/shufflenet.py``).

    python examples/shufflenet_v2.py    # a few training steps on random 64×64 images

``shufflenet_v2_x0_5(pretrained=True)`` refuses its URL, a pickled MegEngine file
(graphc never unpickles; docs/hub.md).
"""

import graphc as mge
import graphc.hub as hub
import graphc.module as M
from graphc.bench.models import image_batch, shufflenet
from graphc.bench.models.shufflenet import STAGE_REPEATS, InvertedResidual, ShuffleNetV2

__all__ = ["InvertedResidual", "ShuffleNetV2", "shufflenet_v2_x0_5"]


@hub.pretrained("https://data.megengine.org.cn/models/weights/snetv2_x05_60750_c28db1a2.pkl")
def shufflenet_v2_x0_5(num_classes: int = 1000,
                       stages_repeats: tuple = STAGE_REPEATS) -> M.Module:
    """Constructs ShuffleNet V2 ×0.5 (``stages_repeats=(1, 1, 1)`` shortens it)."""
    return shufflenet.shufflenet_v2_x0_5(num_classes, stages_repeats)


if __name__ == "__main__":
    from quick_train import report, train

    mge.random.seed(0)
    (images,), labels = image_batch(4, shape=(3, 64, 64), classes=10)
    report("shufflenet_v2_x0_5", train(shufflenet_v2_x0_5(num_classes=10), (images,),
                                       labels))
