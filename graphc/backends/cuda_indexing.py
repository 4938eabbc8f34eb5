"""The CUDA backend's indexing and concatenation kernels (issue 18): the table entries
this family adds to graphc/backends/cuda.py. Empty until built: the ops raise
``NoImplementation`` on the GPU, naming them, at compile time."""

from __future__ import annotations

from .base import LibraryKernel


def entries() -> dict[str, LibraryKernel]:
    """This family's GPU kernels by op name."""
    return {}
