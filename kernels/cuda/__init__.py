"""CUDA kernels (numba-cuda) for ops that codegen does not generate: matmul tiles and
cuBLAS through CuPy. Importing this package imports neither numba.cuda nor CuPy."""
