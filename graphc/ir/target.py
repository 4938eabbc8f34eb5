"""What a backend can do, as the passes ask it: :class:`Capabilities`.

The passes are pure graph transforms that know no device; where a rewrite pays off only
on a backend that can run its result well (BLAS accumulating a product into its output),
they ask the capabilities the pipeline hands them. The answers are plain data, so a
backend's :meth:`Capabilities.fingerprint` can be part of the Program-cache key: a
backend whose answers change never reuses a Program compiled under the old ones.

>>> import numpy as np
>>> caps = Capabilities(gemm_accumulate_dtypes=frozenset({"float32"}))
>>> caps.accumulates_gemm(np.dtype("float32")), NO_CAPABILITIES.accumulates_gemm("float32")
(True, False)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    """A backend's answers to the passes' questions (every field a frozen, sortable set).

    ``gemm_accumulate_dtypes``: the dtypes (by name) of 2-D products the backend can
    accumulate into their output, ``c ← β·c + α·(a @ b)`` in one pass (``matmul_add``).
    """

    gemm_accumulate_dtypes: frozenset[str] = frozenset()

    def accumulates_gemm(self, dtype: object) -> bool:
        """Whether a 2-D product of ``dtype`` can be accumulated into its output."""
        return np.dtype(dtype).name in self.gemm_accumulate_dtypes

    def fingerprint(self) -> str:
        """A short digest of every answer: equal fingerprints, equal capabilities."""
        text = ";".join(f"{f.name}={sorted(getattr(self, f.name))}" for f in fields(self))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


NO_CAPABILITIES = Capabilities()  # a backend that can do none of the optional rewrites
