"""Hand-written kernels that code generation does not produce, installed as
``graphc.kernels`` (never as a top-level ``kernels`` module)."""
