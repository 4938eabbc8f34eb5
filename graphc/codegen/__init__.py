"""Code generation: fused kernels to source text to compiled numba functions."""
