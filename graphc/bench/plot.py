"""``graphc bench --plot out.png``: two charts (matplotlib, the ``bench`` extra) of a
result: time per call per case and system, relative to graphc, with min–max whiskers
(``out.png``), and the cold and warm start, process start to first result
(``out-start.png``).

>>> start_path("docs/perf/bench.png")
'docs/perf/bench-start.png'
"""

from __future__ import annotations

import io
import os
from typing import Any

from .case import SYSTEMS

COLOURS = {"graphc": "#d62728", "numpy": "#7f7f7f", "torch": "#1f77b4",
           "torch.compile": "#17becf", "jax": "#2ca02c"}


def start_path(path: str) -> str:
    """Where the start-up chart of ``path`` goes."""
    root, ext = os.path.splitext(path)
    return f"{root}-start{ext or '.png'}"


def _save(plt: Any, fig: Any, path: str) -> None:
    """``fig``, laid out, as a PNG at ``path``, written atomically; then closed."""
    from graphc.fileio import atomic_write

    fig.tight_layout()
    data = io.BytesIO()
    fig.savefig(data, format="png", dpi=110)
    atomic_write(path, data.getvalue(), durable=False)
    plt.close(fig)


def _label_cases(ax: Any, cases: list[dict[str, Any]], height: float) -> None:
    """The cases' names down the y axis, the first at the top."""
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(cases))],
                  [c["name"] for c in cases])
    ax.invert_yaxis()


def _figure(cases: list[dict[str, Any]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.subplots(figsize=(9, 0.8 + 0.55 * max(1, len(cases)) * 2.2))


def plot(result: dict[str, Any], path: str) -> list[str]:
    """Write both charts of ``result``; the paths written."""
    cases = result["cases"]
    systems = [s for s in SYSTEMS if any(s in c["systems"] for c in cases)]
    plt, (fig, ax) = _figure(cases)
    height = 0.8 / max(1, len(systems))
    for j, system in enumerate(systems):
        ys, xs, lo, hi = [], [], [], []
        for i, case in enumerate(cases):
            steady = case["systems"].get(system, {}).get("steady")
            base = case["systems"].get("graphc", {}).get("steady")
            if not steady or not base or not steady.get("median") or not base.get("median"):
                continue
            scale = 1 / base["median"]
            ys.append(i + j * height)
            xs.append(steady["median"] * scale)
            lo.append((steady["median"] - steady["min"]) * scale)
            hi.append((steady["max"] - steady["median"]) * scale)
        if xs:
            ax.barh(ys, xs, height, xerr=[lo, hi], color=COLOURS.get(system), label=system,
                    error_kw={"elinewidth": 0.8, "capsize": 2})
    _label_cases(ax, cases, height)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.6)
    ax.set_xlabel("time per call / graphc's median (log; whiskers: min–max call)")
    ax.set_title(f"graphc bench {result['target']} ({result['device']}): steady state")
    ax.legend(loc="lower right", fontsize="small")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _save(plt, fig, path)

    plt, (fig, ax) = _figure(cases)
    for j, system in enumerate(systems):
        for kind, alpha, hatch in (("cold", 0.45, "//"), ("warm", 1.0, "")):
            ys, xs = [], []
            for i, case in enumerate(cases):
                start = case["systems"].get(system, {}).get(kind)
                if start and start.get("first_result_seconds") is not None:
                    ys.append(i + j * height)
                    xs.append(start["first_result_seconds"])
            if xs:
                ax.barh(ys, xs, height, color=COLOURS.get(system), alpha=alpha, hatch=hatch,
                        label=f"{system} {kind}")
    _label_cases(ax, cases, height)
    ax.set_xlabel("seconds from process start to the first result (cold: empty caches)")
    ax.set_title(f"graphc bench {result['target']}: cold and warm start")
    ax.legend(loc="lower right", fontsize="x-small", ncol=2)
    second = start_path(path)
    _save(plt, fig, second)
    return [path, second]
