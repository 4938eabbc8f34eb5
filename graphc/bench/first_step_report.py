"""The readable breakdown of a first-step measurement (graphc.bench.first_step): where the
cold and the warm first step went, from the children's JSON.

>>> _parts({"a": 1.0, "b": 0.04, "c": 0.5}, floor=0.05)
'a 1.00, c 0.50'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _parts(seconds: dict[str, float], floor: float = 0.05, top: int = 6) -> str:
    """``name s, ...`` for the largest ``top`` entries above ``floor`` seconds."""
    items = sorted(((v, k) for k, v in seconds.items() if v >= floor), reverse=True)[:top]
    return ", ".join(f"{k} {v:.2f}" for v, k in items) or "all below 0.05"


def _startup(r: dict[str, Any]) -> str:
    s = r["seconds"]
    until = s.get("until_main")
    head = f"interpreter + graphc import {until:.2f}, " if until is not None else ""
    return (f"{head}numba import {s.get('import_numba', 0):.2f}, other imports "
            f"{s.get('imports', 0):.2f}, model and batch {s.get('build', 0):.2f}")


def _graph(r: dict[str, Any]) -> str:
    s = r["seconds"]
    if "backward" in s:
        return (f"forward {s['forward']:.2f}, backward {s['backward']:.2f}, optimizer step "
                f"(realizes) {s['optimizer_step']:.2f}, item {s['item']:.2f}")
    return f"building the chain {s.get('forward', 0):.2f}, item (realizes) {s.get('item', 0):.2f}"


def _compile(b: dict[str, Any]) -> str:
    stages = dict(b["stage_seconds"])
    link = stages.pop("link", 0.0)
    render, load = stages.pop("render", 0.0), stages.pop("load", 0.0)
    passes = stages.pop("passes", 0.0)
    return (f"graphc compile {b['compile_outputs_seconds']:.2f} s in "
            f"{b['programs_compiled']} Program(s): passes {passes:.2f} "
            f"({_parts(b['pass_seconds'], 0.01, 4)}), fuse {stages.get('fuse', 0):.2f}, "
            f"schedule {stages.get('schedule', 0):.2f}, memory plan "
            f"{stages.get('memory', 0):.2f}, link {link:.2f} (render {render:.2f}, "
            f"load kernel modules {load:.2f})"
            + (f"; {b['programs_loaded']} Program(s) loaded from their snapshots in "
               f"{b['program_load_seconds']:.2f} s" if b.get("programs_loaded") else ""))


def _numba(b: dict[str, Any]) -> str:
    n = b["numba"]
    t, m = n["total"], n["median"]
    clocks = b["clocks"]
    text = (f"numba compiled {n['compiles']} functions here ({n['generated']['compiles']} "
            f"generated kernels, {n['compiles'] - n['generated']['compiles']} library), "
            f"{t['seconds']:.1f} s: typing {t['typing']:.1f}, lowering to LLVM IR "
            f"{t['lowering']:.1f}, LLVM {t['llvm']:.1f}, other numba passes "
            f"{t['passes']:.1f}, rest {t['other']:.1f}")
    if n["compiles"]:
        text += (f"; per compile (median) {m['seconds']:.2f} s: typing {m['typing']:.2f}, "
                 f"lowering {m['lowering']:.2f}, LLVM {m['llvm']:.2f}")
    text += (f"; helper process compiled {b['helper_compiled']}; two-process compile "
             f"{clocks['parallel_compile']['seconds']:.1f} s; cache saves "
             f"{clocks['cache_save']['seconds']:.2f} s ({clocks['cache_save']['calls']}), "
             f"loads {clocks['cache_load']['seconds']:.2f} s ({clocks['cache_load']['calls']})")
    return text


def _kernels(b: dict[str, Any], others: Sequence[dict[str, Any]]) -> str:
    k = b["kernels"]
    text = (f"{k['loop_steps']} loop-kernel calls + {k['library_steps']} library calls; "
            f"{k['sources']} distinct generated sources (= cache keys, in-place variants "
            f"included), {k['up_to_floats']} up to float constants, {k['up_to_literals']} up "
            f"to all literals")
    other_keys = set().union(*(o["cold"]["breakdown"]["kernels"]["keys"] for o in others
                               if "breakdown" in o.get("cold", {})))
    other_structs = set().union(*(o["cold"]["breakdown"]["kernels"]["structures"]
                                  for o in others if "breakdown" in o.get("cold", {})))
    if other_keys:
        text += (f"; {len(set(k['keys']) & other_keys)} keys and "
                 f"{len(set(k['structures']) & other_structs)} structures also in the other "
                 f"workloads")
    return text


def describe(result: dict[str, Any], others: Sequence[dict[str, Any]] = ()) -> str:
    """Lines saying where ``result``'s first steps went (see graphc.bench.first_step)."""
    cold, warm = result["cold"], result["warm"]
    lines = [f"{result.get('label', result['name'])}:"]
    for kind, r in (("cold", cold), ("warm", warm)):
        b = r["breakdown"]
        realize = b["clocks"]["realize"]["seconds"]
        lines.append(f"  {kind} first step {r['first_step_wall']:.2f} s (process start to "
                     f"first loss; the in-process step {r['seconds']['first_step']:.2f} s)")
        lines.append(f"    start-up: {_startup(r)}")
        lines.append(f"    step: {_graph(r)}; realizations {realize:.2f} s, of which the "
                     f"first Program run {b['first_run_seconds']:.2f}")
        lines.append(f"    {_compile(b)}")
        if kind == "cold":
            lines.append(f"    {_numba(b)}")
            lines.append(f"    kernels: {_kernels(b, others)}")
        else:
            load = b["clocks"]["cache_load"]
            lines.append(f"    numba: {b['numba']['compiles']} functions compiled "
                         f"({b['kernel_stats']['numba_compiles']} generated kernels); cache "
                         f"loads {load['seconds']:.2f} s ({load['calls']} entries, numba's "
                         f"dispatch of each first call aside)")
    steady = warm.get("steady_step")
    if steady is not None:
        lines.append(f"  steady step {steady:.3f} s (median of {len(warm['steps'])} in the "
                     f"warm process; programs compiled after the first step: "
                     f"{warm['programs_compiled_after_first']})")
    torch = result.get("torch")
    if torch:
        lines.append(f"  PyTorch eager ({torch['threads']} threads): first step "
                     f"{torch['first_step_wall']:.2f} s whole process (interpreter + graphc "
                     f"import {torch['seconds']['until_main']:.2f}, torch import "
                     f"{torch['seconds']['imports']:.2f}, model "
                     f"{torch['seconds']['build']:.2f}, step "
                     f"{torch['seconds']['first_step']:.2f}), steady "
                     f"{torch['steady_step']:.3f} s")
    return "\n".join(lines)
