"""The facts a benchmark result carries beside its timings: the machine, the versions of
every system, the thread counts, the BLAS and OpenMP settings and, on the GPU,
PyTorch's TF32 switches.

>>> facts = describe_machine(2, "cpu")
>>> sorted(facts) == ["environment", "machine", "threads", "versions"]
True
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
from pathlib import Path
from typing import Any

ENV_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_WAIT_POLICY",
                 "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "XLA_FLAGS",
                 "GRAPHC_BACKEND", "CUDA_VISIBLE_DEVICES")
PACKAGES = ("graphc", "numpy", "numba", "llvmlite", "torch", "jax", "jaxlib", "matplotlib")


def load_average() -> str:
    """The 1, 5 and 15-minute load averages ("unknown" where /proc is absent)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def versions() -> dict[str, str | None]:
    """Each system's installed version (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def tf32_settings() -> dict[str, Any] | None:
    """PyTorch's TF32 switches (matmul, cuDNN) and float32 matmul precision; None
    without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return {"matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision()}


def describe_machine(threads: int, device: str,
                     env: dict[str, str] | None = None) -> dict[str, Any]:
    """``machine``, ``versions``, ``threads`` and ``environment`` (of ``env``, the
    children's, default this process's) of a result, and ``tf32`` on the GPU."""
    from .harness import environment

    numba_env = environment()
    facts: dict[str, Any] = {
        "machine": {"cpu": _cpu_model(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "memory_bytes": _memory_bytes(), "load_before": load_average()},
        "versions": versions(),
        "threads": {"requested": threads, "numba": numba_env["numba_threads"],
                    "numba_threading_layer": numba_env["numba_threading_layer"],
                    "blas": [list(p) for p in numba_env.get("blas", [])]},
        "environment": {v: (os.environ if env is None else env).get(v)
                        for v in ENV_VARIABLES},
    }
    if device == "gpu":
        facts["tf32"] = tf32_settings()
    return facts
