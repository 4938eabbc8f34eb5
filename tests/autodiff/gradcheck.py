"""Finite-difference gradient checks on the reference interpreter, in float64.

``check_grad(fn, *arrays)`` compares the autodiff gradient of ``sum(fn(*xs) * dy)``
(``dy`` random) with central differences of the same function, so every test states only
the function and its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import graphc
from graphc.autodiff import grad

F64 = "float64"


def as_f64(array: np.ndarray | float) -> graphc.Tensor:
    return graphc.tensor(np.asarray(array, dtype=np.float64), dtype=F64)


def evaluate(fn: Callable[..., graphc.Tensor], arrays: Sequence[np.ndarray]) -> np.ndarray:
    """``fn`` applied to float64 tensors of ``arrays``, as a NumPy array."""
    return np.asarray(fn(*[as_f64(a) for a in arrays]).numpy(), dtype=np.float64)


def numeric_grads(fn: Callable[..., graphc.Tensor], arrays: Sequence[np.ndarray],
                  dy: np.ndarray, eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of ``sum(fn(*arrays) * dy)`` with respect to each array."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            up = float(np.sum(evaluate(fn, arrays) * dy))
            a[i] = old - eps
            down = float(np.sum(evaluate(fn, arrays) * dy))
            a[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
        arrays[k] = a
    return grads


def autodiff_grads(fn: Callable[..., graphc.Tensor], arrays: Sequence[np.ndarray],
                   dy: np.ndarray) -> list[np.ndarray | None]:
    """Autodiff gradients of ``sum(fn(*arrays) * dy)``: ``fn``'s output weighted by ``dy``."""
    xs = [as_f64(a) for a in arrays]
    y = fn(*xs)
    gs = grad(y, xs, graphc.tensor(dy, dtype=F64, device=y._node.type.device))
    return [None if g is None else np.asarray(g.numpy()) for g in gs]


def check_grad(fn: Callable[..., graphc.Tensor], *arrays: np.ndarray, rtol: float = 1e-6,
               atol: float = 1e-7, eps: float = 1e-6, seed: int = 0) -> None:
    """Assert the autodiff gradient of ``fn`` equals central differences at ``arrays``.

    >>> check_grad(lambda x: x * x, np.array([1.0, 2.0]))
    """
    rng = np.random.default_rng(seed)
    shape = evaluate(fn, arrays).shape
    dy = rng.uniform(0.5, 1.5, size=shape)
    got = autodiff_grads(fn, arrays, dy)
    want = numeric_grads(fn, arrays, dy, eps)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g is not None, f"input {k}: no gradient"
        assert g.shape == np.shape(arrays[k]), f"input {k}: gradient shape {g.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"input {k}")


def vjp_with_built_nodes(ys: list, dys: list, xs: list) -> tuple[list, list]:
    """``vjp_graph(ys, dys, xs)`` and every node it built (hash-consed ones included)."""
    from graphc.autodiff import vjp_graph
    from graphc.ir.state import current

    built: list = []
    st = current()
    outer, st.trace_ops = st.trace_ops, built  # every node make_node returns is listed
    try:
        grads = vjp_graph(ys, dys, xs)
    finally:
        st.trace_ops = outer
    return grads, built
