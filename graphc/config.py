"""MegEngine's ``megengine.config`` options, each with what it means in graphc.

MegEngine code sets these as module attributes (``mge.config.benchmark_kernel = True``)
or for a block with ``_override(...)``. graphc accepts every public option and the
private ones MegEngine code uses, and says here what each does:

- ``deterministic_kernel``: graphc's kernels are always deterministic (the same graph on
  the same inputs gives the same bits on every call; docs/architecture.md, Determinism),
  so ``True`` holds whatever is set; ``False`` permits what graphc never does.
- ``benchmark_kernel``: MegEngine then times its candidate algorithms on the device and
  keeps the fastest. graphc has no candidates to time: each op's kernel is fixed by
  rules (fusion, the CPU schedule), so the value is kept and changes nothing.
- ``async_level`` (0, 1 or 2; 2 by default): how soon MegEngine raises an op's errors.
  graphc is lazy at every level: a shape or dtype error is raised by the line that
  builds the op (what levels 0 and 1 promise), and an error found in the data (an
  index out of bounds) when the value is computed, naming the line that built the op;
  level 0 does not make graphc compute each op as it is built.
- ``disable_memory_forwarding``: MegEngine then copies where it would share memory
  between a tensor and its view. graphc's tensors never share memory the user can see
  (a reshape or slice result is its own value), so the value changes nothing.
- ``_compute_mode`` (``"default"`` or ``"float32"``): the precision of float16 matmul
  and convolution accumulation. graphc's CPU kernels compute float16 in float32 in
  both modes.
- ``_conv_format``, ``_bn_format``, ``_auto_format_convert``: layout conversions
  (NHWC, channel-last BatchNorm parameters) graphc does not have: only the defaults
  (``"default"``, ``"dim_1c11"``, ``False``) are accepted, others raise
  NotImplementedError.

>>> import graphc
>>> graphc.config.async_level
2
>>> graphc.config.benchmark_kernel = True
>>> with graphc.config._override(benchmark_kernel=False, async_level=1):
...     graphc.config.benchmark_kernel, graphc.config.async_level
(False, 1)
>>> graphc.config.benchmark_kernel, graphc.config.async_level
(True, 2)
>>> graphc.config.benchmark_kernel = False
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_DEFAULTS: dict[str, Any] = {
    "benchmark_kernel": False,
    "deterministic_kernel": False,
    "async_level": 2,
    "disable_memory_forwarding": False,
    "_compute_mode": "default",
    "_conv_format": "default",
    "_bn_format": "dim_1c11",
    "_auto_format_convert": False,
}
_options: dict[str, Any] = dict(_DEFAULTS)
# The keyword of each option in _reset_execution_config and _override: its name without "_".
_KEYWORDS = {name.lstrip("_"): name for name in _DEFAULTS}

# Values graphc has no implementation for: the only accepted value of each option.
_ONLY = {"_conv_format": "default", "_bn_format": "dim_1c11", "_auto_format_convert": False}


def _checked(name: str, value: Any) -> Any:
    """``value`` as option ``name`` stores it; the error MegEngine raises otherwise."""
    if name == "async_level":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2:
            raise AssertionError(f"config.async_level should be 0, 1 or 2, got {value!r}")
        return value
    if name == "_compute_mode":
        if value not in ("default", "float32"):
            raise ValueError(f"config._compute_mode must be 'default' or 'float32', got "
                             f"{value!r}")
        return value
    if name in _ONLY:
        if value != _ONLY[name]:
            raise NotImplementedError(f"config.{name} = {value!r}: graphc has no layout "
                                      f"conversion; only {_ONLY[name]!r} is supported")
        return value
    return bool(value)


def _reset_execution_config(**values: Any) -> dict[str, Any]:
    """Set the options given (None leaves one as it is); returns their previous values.

    >>> old = _reset_execution_config(async_level=0)
    >>> old, _reset_execution_config(**old)
    ({'async_level': 2}, {'async_level': 0})
    """
    unknown = sorted(set(values) - set(_KEYWORDS))
    if unknown:
        raise TypeError(f"config: unknown options {unknown}; known: {sorted(_KEYWORDS)}")
    checked = {_KEYWORDS[k]: _checked(_KEYWORDS[k], v) for k, v in values.items()
               if v is not None}
    previous = {k.lstrip("_"): _options[k] for k in checked}
    _options.update(checked)
    return previous


@contextmanager
def _override(benchmark_kernel: bool | None = None, deterministic_kernel: bool | None = None,
              async_level: int | None = None, compute_mode: str | None = None,
              conv_format: str | None = None, auto_format_convert: bool | None = None
              ) -> Iterator[None]:
    """Set options for a block (or a decorated function) and restore them after it.

    >>> with _override(deterministic_kernel=True):
    ...     sys.modules[__name__].deterministic_kernel
    True
    """
    previous = _reset_execution_config(
        benchmark_kernel=benchmark_kernel, deterministic_kernel=deterministic_kernel,
        async_level=async_level, compute_mode=compute_mode, conv_format=conv_format,
        auto_format_convert=auto_format_convert)
    try:
        yield
    finally:
        _reset_execution_config(**previous)


class _ConfigModule(types.ModuleType):
    """Reads and assignments of the options go through :func:`_checked`."""

    def __getattr__(self, name: str) -> Any:
        if name in _options:
            return _options[name]
        raise AttributeError(f"module 'graphc.config' has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _DEFAULTS:
            _options[name] = _checked(name, value)
        else:
            super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_DEFAULTS))


sys.modules[__name__].__class__ = _ConfigModule
