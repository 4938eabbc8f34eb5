"""A ``graphc bench`` result as a terminal table, as Markdown, and against an earlier
result (``--compare``): changes beyond the noise both runs measured are flagged.

>>> noise({"rounds": [0.9, 1.0, 1.1], "median": 1.0})
0.1
>>> _ms(0.0123), _ratio(2.0), _ratio(None)
('12.3', '2.00', '–')
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .case import SYSTEMS

MIB = 1 << 20
FLOOR = 0.02  # a change below 2% is never flagged: rounding, clocks, cache placement


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:.0f}"


def _s(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.2f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _mib(count: int | None) -> str:
    return "–" if count is None else f"{count / MIB:.1f}"


# first call s: in the warm start (the cold one in a --quick run), the first call alone.
COLUMNS = ("system", "status", "ms/call", "min–max", "time/graphc", "cold s", "warm s",
           "first call s", "RSS MiB")


def rows(case: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """One row of :data:`COLUMNS` per system of ``case``."""
    systems = case["systems"]
    for name in [s for s in SYSTEMS if s in systems] + [s for s in systems if s not in SYSTEMS]:
        r = systems[name]
        steady, cold, warm = r.get("steady", {}), r.get("cold", {}), r.get("warm", {})
        status = r["status"]
        if status not in ("ok",):
            status += f": {r['reason']}" if r.get("reason") else ""
            status += f" ({r['check']})" if r.get("check") and r["status"] == "disagrees" else ""
        spread = (f"{_ms(steady.get('min'))}–{_ms(steady.get('max'))}" if steady else "–")
        yield (name, status[:200], _ms(steady.get("median")), spread,
               _ratio(r.get("time_vs_graphc")), _s(cold.get("first_result_seconds")),
               _s(warm.get("first_result_seconds")),
               _s((warm or cold).get("first_call_seconds")),
               _mib(r.get("memory", {}).get("case_rss")))


def graphc_line(case: dict[str, Any]) -> str:
    """graphc's Program: kernels and planned bytes of the step."""
    counts = case["systems"].get("graphc", {}).get("graphc")
    if not counts or counts.get("kernels") is None:
        return ""
    return (f"graphc: {counts['kernels']} kernels, {_mib(counts['planned_bytes'])} MiB "
            f"planned intermediates, {counts['programs']} Program(s)")


def profile_lines(case: dict[str, Any], top: int = 8) -> list[str]:
    """The ``--profile`` table of ``case``: share of graphc's call, ms per call."""
    return [f"{r['share'] * 100:5.1f}%  {r['seconds'] * 1e3:8.3f} ms  x{r['calls']:g}  "
            f"{r['name']}" for r in (case.get("profile") or [])[:top]]


def header_lines(result: dict[str, Any]) -> list[str]:
    """The machine, versions, threads and settings a result was measured with."""
    m, v, t = result["machine"], result["versions"], result["threads"]
    lines = [f"machine: {m['cpu']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']};"
             f" load {m['load_before']} before, {m['load_after']} after",
             "versions: " + ", ".join(f"{k} {x}" for k, x in v.items() if x),
             "not installed: " + (", ".join(k for k, x in v.items() if not x) or "none"),
             f"threads: {t['requested']} for every system (numba {t['numba']}, "
             f"{t['numba_threading_layer']}; BLAS {t['blas']})",
             "environment: " + ", ".join(f"{k}={x}" for k, x in result["environment"].items()
                                         if x is not None)]
    if result.get("tf32") is not None:
        lines.append(f"PyTorch TF32: {result['tf32']}")
    lines.append(f"device {result['device']}; {'quick' if result['quick'] else 'full'} run "
                 f"of {result['target']} in {result['seconds']:.0f} s")
    return lines


def table(result: dict[str, Any]) -> str:
    """The terminal table: a block per case."""
    out = header_lines(result)
    for case in result["cases"]:
        body = [COLUMNS, *rows(case)]
        widths = [max(len(r[i]) for r in body) for i in range(len(COLUMNS))]
        widths[1] = min(widths[1], 60)
        out += ["", f"{case['label']} [{case['name']}]"]
        for r in body:
            out.append("  ".join(c[:widths[i]].ljust(widths[i]) if i < 2 else
                                 c.rjust(widths[i]) for i, c in enumerate(r)).rstrip())
        if graphc_line(case):
            out.append(graphc_line(case))
        if case.get("profile"):
            out.append("profile (share of graphc's call):")
            out += ["  " + line for line in profile_lines(case)]
    out.append("\ntime/graphc: a system's time over graphc's in the same rounds (above 1: "
               "graphc is faster). cold/warm: process start to first result, fresh process.")
    return "\n".join(out)


def markdown(result: dict[str, Any], headings: str = "###") -> str:
    """The result as Markdown: the settings, then a table per case."""
    out = ["- " + line for line in header_lines(result)]
    for case in result["cases"]:
        out += ["", f"{headings} {case['label']}", "",
                "| " + " | ".join(COLUMNS) + " |",
                "| --- | --- |" + " ---: |" * (len(COLUMNS) - 2)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows(case)]
        if graphc_line(case):
            out += ["", graphc_line(case) + "."]
        if case.get("profile"):
            out += ["", "Where graphc's call goes (`--profile`):", "",
                    "| share | ms per call | calls | step |", "| ---: | ---: | ---: | --- |"]
            out += [f"| {r['share'] * 100:.1f}% | {r['seconds'] * 1e3:.3f} | {r['calls']:g} "
                    f"| {r['name']} |" for r in case["profile"][:8]]
    return "\n".join(out)


# ---- compare ---------------------------------------------------------------------------

def noise(steady: dict[str, Any]) -> float:
    """A run's relative noise: half the range of its round medians over its median."""
    rounds = steady.get("rounds") or []
    median = steady.get("median")
    if len(rounds) < 2 or not median:
        return 0.0
    return round((max(rounds) - min(rounds)) / 2 / median, 12)


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Per case and system timed in both results: old and new median seconds, the
    relative change, the noise allowed (the two runs' noise added, at least 2%) and
    whether the change is beyond it (``flagged``)."""
    old_cases = {c["name"]: c for c in old["cases"]}
    found = []
    for case in new["cases"]:
        before = old_cases.get(case["name"])
        if before is None:
            continue
        for system, r in case["systems"].items():
            a = before["systems"].get(system, {}).get("steady")
            b = r.get("steady")
            if not a or not b or not a.get("median") or not b.get("median"):
                continue
            change = b["median"] / a["median"] - 1
            allowed = max(FLOOR, noise(a) + noise(b))
            found.append({"case": case["name"], "system": system, "old": a["median"],
                          "new": b["median"], "change": change, "noise": allowed,
                          "flagged": abs(change) > allowed})
    return found


def compare_text(changes: list[dict[str, Any]]) -> str:
    """:func:`compare`'s rows as lines; flagged ones marked ``<<`` (slower) or ``>>``."""
    if not changes:
        return "compare: no case and system was timed in both results"
    lines = ["compare (ms per call, old -> new; flagged beyond the measured noise):"]
    for c in changes:
        mark = ("<< slower" if c["change"] > 0 else ">> faster") if c["flagged"] else ""
        lines.append(f"  {c['case']:<18} {c['system']:<14} {_ms(c['old']):>8} -> "
                     f"{_ms(c['new']):>8}  {c['change'] * 100:+6.1f}% "
                     f"(noise ±{c['noise'] * 100:.1f}%) {mark}".rstrip())
    return "\n".join(lines)
