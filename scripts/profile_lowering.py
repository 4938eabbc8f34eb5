"""Time ``lower_graph`` on a benchmark model's pending training step (the graph work
before fusion: composites and deferred gradients replaced by what they stand for).

    python scripts/profile_lowering.py shufflenet_v2_x0_5 resnet18

Each model at its tiny test size (graphc/bench/models), batch 2; prints seconds and the
nodes the walk mapped. The one-walk lowering took ShuffleNet V2's step from 19.4 s to
0.12 s (2-core machine, under load)."""

from __future__ import annotations

import sys
import time

import graphc
from graphc.autodiff import GradManager
from graphc.bench.models import MODELS, to_graphc
from graphc.ops.lowering import lower_graph


def lowering_seconds(name: str) -> tuple[float, int]:
    spec = MODELS[name]
    model = spec.model(tiny=True)
    inputs, target = spec.batch(2, tiny=True)
    gm = GradManager().attach(model.parameters())
    with gm:
        loss = spec.loss(model(*to_graphc(inputs)), graphc.tensor(target))
        gm.backward(loss)
    roots = [loss._node] + [p.grad._node for p in model.parameters()]
    t0 = time.perf_counter()
    _, mapping = lower_graph(roots)
    return time.perf_counter() - t0, len(mapping)


if __name__ == "__main__":
    for model_name in sys.argv[1:] or ["shufflenet_v2_x0_5", "resnet18", "bert_small"]:
        seconds, mapped = lowering_seconds(model_name)
        print(f"{model_name}: lower_graph {seconds:.2f} s, {mapped} nodes mapped")
