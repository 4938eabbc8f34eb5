"""``graphc.TraceError``: a traced or compiled function cannot do what was asked."""

from __future__ import annotations

from ..ir import GraphcError


class TraceError(GraphcError, RuntimeError):
    """Raised when tracing meets something a compiled Program cannot replay (a value read
    with ``.numpy()``, a data-dependent shape), when ``jit(check=True)`` sees the Python
    body take a different path than the trace, and for calls that do not match a
    compiled function's inputs.

    >>> issubclass(TraceError, RuntimeError)
    True
    """
