"""BERT written as MegEngine's official model file is (MegEngine/Models,
``official/nlp/bert/model.py``): ``import graphc as mge``, a ``BertConfig``, and hub
factories named after Google's checkpoints, decorated with ``@hub.pretrained``. The
layers are graphc's benchmark BERT (``graphc/bench/models/bert.py``).

    python examples/bert.py     # a few training steps of a small BERT classifier

``uncased_L_12_H_768_A_12(pretrained=True)`` refuses its URL, a pickled MegEngine file
(graphc never unpickles; docs/hub.md).
"""

import graphc as mge
import graphc.hub as hub
import graphc.module as M
from graphc.bench.models import token_batch
from graphc.bench.models.bert import Bert, BertConfig

__all__ = ["Bert", "BertConfig", "bert_small", "uncased_L_12_H_768_A_12"]


@hub.pretrained("https://data.megengine.org.cn/models/weights/bert/"
                "uncased_L-12_H-768_A-12/bert_4f2157f7_uncased_L-12_H-768_A-12.pkl")
def uncased_L_12_H_768_A_12(num_classes: int = 2) -> M.Module:  # noqa: N802
    """BERT-base (12 layers, hidden 768, 12 heads) with a sequence classifier."""
    return Bert(BertConfig.base(num_classes=num_classes))


def bert_small(**config) -> M.Module:
    """A small BERT classifier: ``BertConfig``'s fields as keywords (2 layers, hidden 64
    by default)."""
    return Bert(BertConfig(**config))


if __name__ == "__main__":
    from quick_train import report, train

    mge.random.seed(0)
    config = dict(vocab_size=50, hidden=16, heads=2, intermediate=32, max_positions=8)
    inputs, labels = token_batch(4, config=BertConfig(**config))
    report("bert_small", train(bert_small(**config), inputs, labels))
