"""The JSON schema of a ``graphc bench`` result (``--json``), as a JSON Schema document
(draft 2020-12); docs/benchmarking.md describes each field. Times are seconds, memory
bytes; a measurement that could not be taken is null.

>>> SCHEMA["properties"]["schema"]["const"]
'graphc-bench/1'
"""

from __future__ import annotations

from typing import Any

NUMBER = {"type": ["number", "null"]}
SECONDS_LIST = {"type": "array", "items": {"type": "number"}}
STATUSES = ["ok", "not provided", "not installed", "disagrees", "failed", "unchecked"]

_START = {
    "type": "object",
    "required": ["process_seconds", "first_result_seconds", "first_call_seconds",
                 "import_seconds", "calls"],
    "properties": {"process_seconds": NUMBER, "first_result_seconds": NUMBER,
                   "first_call_seconds": NUMBER, "import_seconds": NUMBER,
                   "calls": SECONDS_LIST},
}

_STEADY = {
    "type": "object",
    "required": ["median", "min", "max", "rounds", "calls"],
    "properties": {"median": NUMBER, "min": NUMBER, "max": NUMBER, "rounds": SECONDS_LIST,
                   "calls": {"type": "array", "items": SECONDS_LIST}},
}

_SYSTEM = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": STATUSES},
        "reason": {"type": "string"},
        "check": {"type": "string"},
        "cold": _START,
        "warm": _START,
        "steady": _STEADY,
        "time_vs_graphc": NUMBER,
        "threads": {"type": ["integer", "null"]},
        "memory": {"type": "object", "required": ["rss_after_imports", "rss_peak", "case_rss"],
                   "properties": {k: {"type": "integer"} for k in
                                  ("rss_after_imports", "rss_peak", "case_rss")}},
        "graphc": {"type": "object", "required": ["programs", "kernels", "planned_bytes"],
                   "properties": {"programs": {"type": "integer"},
                                  "kernels": {"type": ["integer", "null"]},
                                  "planned_bytes": {"type": ["integer", "null"]}}},
    },
    "additionalProperties": False,
    # An "ok" system was timed (its starts are measured in a full run; --quick measures
    # graphc's cold start alone).
    "if": {"properties": {"status": {"const": "ok"}}},
    "then": {"required": ["steady", "time_vs_graphc"]},
}

_PROFILE_ROW = {
    "type": "object", "required": ["name", "seconds", "share", "calls"],
    "properties": {"name": {"type": "string"}, "seconds": {"type": "number"},
                   "share": {"type": "number", "minimum": 0, "maximum": 1.000001},
                   "calls": {"type": "number"}},
}

_CASE = {
    "type": "object",
    "required": ["name", "label", "timing", "profile", "systems"],
    "properties": {
        "name": {"type": "string"},
        "label": {"type": "string"},
        "timing": {"type": ["object", "null"], "required": ["rounds", "repeat", "warmup"]},
        "profile": {"type": ["array", "null"], "items": _PROFILE_ROW},
        "systems": {"type": "object", "additionalProperties": _SYSTEM,
                    "required": ["graphc"]},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "graphc bench result",
    "type": "object",
    "required": ["schema", "target", "quick", "device", "profile", "started", "seconds",
                 "machine", "versions", "threads", "environment", "cases"],
    "properties": {
        "schema": {"const": "graphc-bench/1"},
        "target": {"type": "string"},
        "quick": {"type": "boolean"},
        "device": {"enum": ["cpu", "gpu"]},
        "profile": {"type": "boolean"},
        "started": {"type": "string"},
        "seconds": {"type": "number"},
        "machine": {"type": "object", "required": ["cpu", "cpus", "platform", "python",
                                                   "load_before", "load_after"]},
        "versions": {"type": "object", "required": ["graphc", "numpy", "numba"],
                     "additionalProperties": {"type": ["string", "null"]}},
        "threads": {"type": "object", "required": ["requested", "numba", "blas"]},
        "environment": {"type": "object",
                        "additionalProperties": {"type": ["string", "null"]}},
        "tf32": {"type": ["object", "null"]},
        "cases": {"type": "array", "items": _CASE},
    },
    "additionalProperties": False,
}
