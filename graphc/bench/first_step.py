"""Time to first step (issue 19): how long a user waits for a real model's first loss.

For each workload, in fresh processes (``python -m graphc.bench.first_step``):

- **cold**: empty ``GRAPHC_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` (new temporary
  directories), whole-process wall time from start to the first printed loss, imports
  included;
- **warm**: the same again, on the caches the cold run filled;
- **steady**: the median step after the first, in the warm process;
- **PyTorch eager**: its first step (whole process, imports included) and steady step for
  the model's twin, in a process of its own.

The workloads: ResNet-18 and ShuffleNet V2 x0.5 training steps at 2×3×224×224, the small
BERT (2 layers, hidden 64, seq 16) at batch 8, and the getting-started laziness loop
(``s = s * 0.5 + 1``, 5000 steps). Each child measures where its time went
(:mod:`graphc.bench.compile_clock`): imports, graph building, graphc's compile stages,
numba's compiles split into typing, lowering and LLVM, the two-process compile, cache
loads. The child is this module too::

    python -m graphc.bench.first_step --child resnet18 --out result.json

and prints ``first_result <value>`` as soon as it has the first loss (the parent times
that line: :mod:`graphc.bench.runner`, the one subprocess runner of ``graphc bench``).
:func:`workload` names what a child runs:

>>> workload("resnet18").batch, workload("bert_small").batch
(2, 8)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import runner
from .runner import announce, since_start

LR = 0.01
LOOP_STEPS = 5000  # docs/getting-started.md's laziness loop
DEFAULT = ("resnet18", "shufflenet_v2_x0_5", "bert_small", "loop")
LABELS = {"resnet18": "ResNet-18 train step, 2x3x224x224",
          "shufflenet_v2_x0_5": "ShuffleNet V2 x0.5 train step, 2x3x224x224",
          "bert_small": "BERT 2 layers, hidden 64, seq 16, batch 8",
          "loop": "getting-started loop (s = s * 0.5 + 1, 5000 steps)",
          "mlp": "MLP 16-32-4 train step, batch 4",
          "lenet5": "LeNet-5 train step, 2x1x28x28"}


@dataclass(frozen=True)
class Workload:
    """What a child runs: a model of :data:`graphc.bench.models.MODELS` (or ``"mlp"``, a
    two-layer MLP for tests; ``"loop"``, the laziness loop) at ``batch``."""

    name: str
    batch: int = 2
    tiny: bool = False

    def spec(self):
        from .models import MODELS

        if self.name == "mlp":
            return _mlp_spec()
        return MODELS[self.name]


def workload(name: str) -> Workload:
    """The workload called ``name`` (the batch of the issue's measurements)."""
    return Workload(name, batch=8 if name.startswith("bert") else 4 if name == "mlp" else 2)


def _mlp_spec():
    import graphc.module as M

    from .models.spec import ModelSpec, Size, classification_loss, image_batch

    def mlp(classes: int = 4) -> M.Module:
        return M.Sequential(M.Linear(16, 32), M.ReLU(), M.Linear(32, classes))

    def torch_mlp(classes: int = 4):
        import torch

        return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, classes))

    from .models.spec import torch_classification_loss

    size = Size({}, {"shape": (16,), "classes": 4})
    return ModelSpec("mlp", mlp, torch_mlp, image_batch, classification_loss,
                     torch_classification_loss, full=size, tiny=size)


# ---------------------------------------------------------------------------- child


def child(name: str, out: str, steps: int = 10, torch: bool = False,
          batch: int | None = None) -> dict[str, Any]:
    """Run workload ``name`` in this (fresh) process: print ``first_result <value>`` when
    the first loss is known, then time ``steps`` more steps, and write the result as
    JSON to ``out`` (also returned)."""
    load = workload(name)
    if batch is not None:
        load = Workload(load.name, batch, load.tiny)
    until_main = since_start()
    result = (_torch_child if torch else _graphc_child)(load, steps)
    result["seconds"]["until_main"] = until_main
    result.update(name=name, framework="torch" if torch else "graphc", batch=load.batch)
    Path(out).write_text(json.dumps(result, indent=1))
    return result


def _graphc_child(load: Workload, steps: int) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    import numba  # noqa: F401  (timed apart: graphc imports it when it first compiles)

    seconds["import_numba"] = time.perf_counter() - t
    from .compile_clock import Instruments

    instruments = Instruments().__enter__()  # for the life of this process
    t = time.perf_counter()
    import numpy as np

    import graphc
    from graphc.codegen import cache as kernel_cache
    from graphc.runtime import compiler

    seconds["imports"] = time.perf_counter() - t
    t = time.perf_counter()
    if load.name == "loop":
        run = _loop
    else:
        spec = load.spec()
        graphc.random.seed(0)
        model = spec.model(load.tiny)
        inputs, target = spec.batch(load.batch, load.tiny)
        run = _graphc_step(spec, model, inputs, target)
    seconds["build"] = time.perf_counter() - t
    before = set(compiler._programs)
    phases: dict[str, float] = {}
    t = time.perf_counter()
    loss = run(phases)
    seconds["first_step"] = time.perf_counter() - t
    announce(loss)
    seconds.update(phases)
    breakdown = _breakdown(instruments, compiler, kernel_cache,
                           [c for k, c in compiler._programs.items() if k not in before])
    compiled_first = compiler.stats["programs_compiled"]
    times, losses = [], []
    for _ in range(steps):
        t = time.perf_counter()
        losses.append(run({}))
        times.append(time.perf_counter() - t)
    return {"first_loss": loss, "first_loss_hex": np.float32(loss).tobytes().hex(),
            "seconds": seconds, "steps": times, "losses": losses,
            "steady_step": statistics.median(times) if times else None,
            "programs_compiled_after_first": compiler.stats["programs_compiled"]
            - compiled_first, "breakdown": breakdown}


def _graphc_step(spec, model, inputs, target) -> Callable[[dict], float]:
    """:func:`graphc.bench.models.train_step`, timing its phases into the dict given."""
    import graphc
    from graphc.autodiff import GradManager
    from graphc.optimizer import SGD

    from .models import to_graphc

    params = list(model.parameters())
    gm = GradManager().attach(params)
    opt = SGD(params, lr=LR)
    xs, y = to_graphc(inputs), graphc.tensor(target)

    def step(phases: dict) -> float:
        t0 = time.perf_counter()
        with gm:
            loss = spec.loss(model(*xs), y)
            t1 = time.perf_counter()
            gm.backward(loss)
        t2 = time.perf_counter()
        opt.step().clear_grad()  # realizes the step
        t3 = time.perf_counter()
        value = float(loss.item())
        phases.update(forward=t1 - t0, backward=t2 - t1, optimizer_step=t3 - t2,
                      item=time.perf_counter() - t3)
        return value

    return step


def _loop(phases: dict) -> float:
    """docs/getting-started.md's laziness loop."""
    import graphc

    t0 = time.perf_counter()
    s = graphc.tensor(1.0)
    for _ in range(LOOP_STEPS):
        s = s * 0.5 + 1
    t1 = time.perf_counter()
    value = float(s.item())
    phases.update(forward=t1 - t0, item=time.perf_counter() - t1)
    return value


def _breakdown(instruments, compiler, kernel_cache, compiled: list) -> dict[str, Any]:
    """Where the first step went, from the clocks and the Programs it compiled."""
    from .compile_clock import kernel_ops, kernel_structures, structure_of

    stages: dict[str, float] = {}
    passes: dict[str, float] = {}
    loop_steps = library_steps = 0
    for c in compiled:
        stats = c.program.stats
        for k, v in stats.get("stage_seconds", {}).items():
            stages[k] = stages.get(k, 0.0) + v
        for k, v in stats.get("pass_seconds", {}).items():
            passes[k] = passes.get(k, 0.0) + v
        for k in c.program.kernels:
            if "\ndef " in k:
                loop_steps += 1
            else:
                library_steps += 1
    with kernel_cache._lock:
        modules = dict(kernel_cache._modules)
    sources = {key: m.__spec__.loader.get_source(m.__name__) for key, m in modules.items()}
    by_module = {f"{m.__name__}.kernel": sources[key] for key, m in modules.items()}
    records = []
    for r in instruments.numba.records:
        source = by_module.get(r["name"])
        records.append({**r, "generated": source is not None,
                        "ops": kernel_ops(source) if source else None,
                        "header": source.split("\nimport", 1)[0] if source else None})
    numba = instruments.numba.summary()
    generated = [r for r in records if r["generated"]]
    numba["generated"] = {"compiles": len(generated),
                          "seconds": sum(r["seconds"] for r in generated)}
    kernel_stats = kernel_cache.compile_stats()
    loaded = [c for c in compiled if "loaded_seconds" in c.program.stats]  # snapshots
    return {
        "programs_compiled": len(compiled) - len(loaded),
        "programs_loaded": len(loaded),
        "program_load_seconds": sum(c.program.stats["loaded_seconds"] for c in loaded),
        "compile_outputs_seconds": sum(c.compile_seconds for c in compiled),
        "stage_seconds": stages, "pass_seconds": passes,
        "clocks": instruments.snapshot(),
        "first_run_seconds": instruments.walls["program_run"].first or 0.0,
        "numba": numba, "numba_compiles": records,
        "kernel_stats": kernel_stats,
        # In a cold process, the generated kernels numba loaded from its cache were
        # compiled by the two-process compile's helper.
        "helper_compiled": kernel_stats["numba_cache_hits"],
        "kernels": {"loop_steps": loop_steps, "library_steps": library_steps,
                    **kernel_structures(list(sources.values())),
                    "keys": sorted(sources),
                    "structures": sorted({_digest(structure_of(s)) for s in sources.values()})},
    }


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _torch_child(load: Workload, steps: int) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    import numpy as np
    import torch

    from .models import to_torch

    seconds["imports"] = time.perf_counter() - t
    t = time.perf_counter()
    spec = load.spec()
    torch.manual_seed(0)
    model = spec.twin(load.tiny)
    inputs, target = spec.batch(load.batch, load.tiny)
    xs, (y,) = to_torch(inputs), to_torch([target])
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    seconds["build"] = time.perf_counter() - t

    def step() -> float:
        opt.zero_grad()
        loss = spec.twin_loss(model(*xs), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    t = time.perf_counter()
    loss = step()
    seconds["first_step"] = time.perf_counter() - t
    announce(loss)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return {"first_loss": loss, "first_loss_hex": np.float32(loss).tobytes().hex(),
            "seconds": seconds, "steps": times, "threads": torch.get_num_threads(),
            "steady_step": statistics.median(times) if times else None}


# --------------------------------------------------------------------------- parent


def run_child(name: str, env: dict[str, str], steps: int, torch: bool = False,
              batch: int | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run a child process for ``name`` under ``env``; its JSON result, with
    ``first_step_wall`` (process start to the ``first_result`` line) and ``process_wall``.

    >>> run_child("mlp", dict(os.environ), steps=2)["first_step_wall"] > 0  # doctest: +SKIP
    True
    """
    command = ["--child", name, "--steps", str(steps)]
    command += ["--torch"] * torch + (["--batch", str(batch)] if batch else [])
    result = runner.run_child("graphc.bench.first_step", command, env, timeout,
                              f"first-step child {name} ({'torch' if torch else 'graphc'})")
    result["first_step_wall"] = result["first_result_wall"]
    return result


def measure(name: str, steps: int = 10, torch: bool = True) -> dict[str, Any]:
    """Cold and warm graphc children for ``name`` on new empty caches, then PyTorch's."""
    result: dict[str, Any] = {"name": name, "label": LABELS.get(name, name)}
    with tempfile.TemporaryDirectory() as graphc_cache, \
            tempfile.TemporaryDirectory() as numba_cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=graphc_cache, NUMBA_CACHE_DIR=numba_cache,
                   GRAPHC_BACKEND="compiled")
        result["cold"] = run_child(name, env, steps=min(steps, 2))
        result["warm"] = run_child(name, env, steps=steps)
    if torch and name != "loop" and _has_torch():
        result["torch"] = run_child(name, dict(os.environ), steps=steps, torch=True)
    return result


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _s(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def table(results: Sequence[dict[str, Any]]) -> str:
    """The results as a Markdown table (seconds).

    >>> print(table([{"label": "x", "cold": {"first_step_wall": 3.0},
    ...               "warm": {"first_step_wall": 1.0, "steady_step": 0.01}}]))
    | workload | cold first | warm first | steady | PyTorch first | PyTorch steady |
    | --- | ---: | ---: | ---: | ---: | ---: |
    | x | 3.00 | 1.00 | 0.010 | – | – |
    """
    lines = ["| workload | cold first | warm first | steady | PyTorch first | PyTorch steady |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        torch = r.get("torch", {})
        lines.append(f"| {r['label']} | {_s(r['cold']['first_step_wall'])} | "
                     f"{_s(r['warm']['first_step_wall'])} | "
                     f"{_s(r['warm'].get('steady_step'), 3)} | "
                     f"{_s(torch.get('first_step_wall'))} | "
                     f"{_s(torch.get('steady_step'), 3)} |")
    return "\n".join(lines)


def breakdown(result: dict[str, Any], others: Sequence[dict[str, Any]] = ()) -> str:
    """Where ``result``'s cold and warm first steps went, as readable lines; ``others``:
    the other workloads' results (for the kernels shared between models)."""
    from .first_step_report import describe

    return describe(result, others)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The benchmark's command line (``--child`` runs one child instead)."""
    parser = argparse.ArgumentParser(prog="python -m graphc.bench.first_step",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT),
                        help=f"workloads (default: {' '.join(DEFAULT)}; also mlp, lenet5)")
    parser.add_argument("--quick", action="store_true", help="3 steady steps, not 10")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch eager")
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else 3 if args.quick else 10
    if args.child:
        child(args.child, args.out, steps, args.torch, args.batch)
        return []
    print("\nTime to first step (issue 19): fresh processes, seconds; cold = empty "
          "GRAPHC_CACHE_DIR and NUMBA_CACHE_DIR, first step = process start to the first "
          f"printed loss; load average before: {_load()}")
    results = []
    for name in args.models:
        results.append(measure(name, steps, torch=not args.no_torch))
        print(f"  {name}: cold {_s(results[-1]['cold']['first_step_wall'])} s, warm "
              f"{_s(results[-1]['warm']['first_step_wall'])} s (load {_load()})", flush=True)
    print()
    print(table(results))
    for r in results:
        print()
        print(breakdown(r, [o for o in results if o is not r]))
    if args.json:
        Path(args.json).write_text(json.dumps({"load_after": _load(), "results": results},
                                              indent=1))
    return results


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
