"""CPU kernels (numba) for ops that codegen does not generate."""
