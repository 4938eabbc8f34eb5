"""Regenerate docs/images/viz-*.png: one MLP training step at each compiler stage.

    .venv/bin/python scripts/make_viz_images.py [outdir]

The step is the demo's: a 64 → 128 → 10 MLP, cross entropy, GradManager and SGD with
momentum. ``graphc.viz.capture`` records the program ``opt.step()`` realizes (forward,
backward and update together) and each stage is exported from it. Needs Graphviz;
Pillow, where installed, stores the PNGs with a small palette (a fraction of the size).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
import graphc.viz as viz
from graphc.autodiff import GradManager

ROOT = Path(__file__).resolve().parent.parent
IMAGES = [("built", None), ("optimized", None), ("fused", None), ("backward", None),
          ("built", "module")]


def training_step() -> viz.capture:
    """One captured training step of the demo's MLP on random digits-shaped data."""
    graphc.random.seed(0)
    model = M.Sequential(M.Linear(64, 128), M.ReLU(), M.Linear(128, 10))
    gm = GradManager().attach(model.parameters())
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.random((32, 64), dtype=np.float32))
    y = graphc.tensor(rng.integers(0, 10, 32).astype(np.int32))
    with gm:
        loss = F.cross_entropy(model(x), y)
        gm.backward(loss)
    with viz.capture("MLP training step", names=model) as step:
        opt.step()
    return step


def shrink(path: Path) -> None:
    """Store a PNG with a 64-colour palette when Pillow is available."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    small.save(path)


def image_name(stage: str, group_by: str | None) -> str:
    """docs/images/<this> for one picture."""
    return f"viz-{stage}" + (f"-by-{group_by}" if group_by else "") + ".png"


def main(outdir: Path = ROOT / "docs" / "images",
         images: list[tuple[str, str | None]] = IMAGES) -> list[Path]:
    step = training_step()
    written = []
    for stage, group_by in images:
        path = viz.export(step, outdir / image_name(stage, group_by), stage=stage,
                          group_by=group_by)
        shrink(path)
        written.append(path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return written


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images")
