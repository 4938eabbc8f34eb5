"""Matrix multiplication: ``matmul(a, b)`` with a of shape (..., M, K) and b (..., K, N).

The front end reshapes vectors, applies transpose flags and broadcasts batch dimensions
explicitly, so the op itself sees equal batch dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Attrs, TensorType
from .registry import DTypeError, ShapeError, check_devices, register


def _infer_matmul(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    a, b = types
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2] or a.shape[:-2] != b.shape[:-2]:
        raise ShapeError(f"cannot multiply {a.shape} by {b.shape}")
    if a.dtype != b.dtype:
        raise DTypeError(f"operand dtypes differ: {a.dtype.name} vs {b.dtype.name}")
    if a.dtype == np.bool_:
        raise DTypeError("cannot multiply bool matrices")
    check_devices(types)
    return a.with_shape(a.shape[:-1] + (b.shape[-1],))


register("matmul", "opaque", _infer_matmul, lambda xs, attrs: np.matmul(xs[0], xs[1]))


# ---- matmul_add: a product accumulated into a matrix (BLAS gemm) ------------------
#
# ``matmul_add(c, a, b, [alpha], [beta]; scale_product, scale_c, subtract)`` is
# ``beta·c ± alpha·(a @ b)`` for 2-D float matrices, with ``alpha``/``beta`` 0-d inputs
# present when their flag is set. Only the ``matmul_accumulate`` pass builds it, after
# autodiff, where an update such as SGD's ``w - lr·(gᵀ·x)`` reads the product once: BLAS
# then accumulates into the result in one pass instead of writing the product and reading
# it back (the CPU backend calls BLAS's gemm). Not differentiable: nothing differentiates
# past the pass.


def matmul_add_scalars(xs: Sequence, attrs: Attrs) -> tuple[object, object]:
    """``(alpha, beta)`` of a ``matmul_add``: its 0-d inputs where present, else 1."""
    rest = list(xs[3:])
    alpha = rest.pop(0) if attrs["scale_product"] else 1
    beta = rest.pop(0) if attrs["scale_c"] else 1
    return alpha, beta


def _infer_matmul_add(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    c, a, b = types[:3]
    product = _infer_matmul([a, b], attrs)
    want = 3 + bool(attrs["scale_product"]) + bool(attrs["scale_c"])
    if len(types) != want:
        raise ShapeError(f"expected {want} inputs, got {len(types)}")
    if a.ndim != 2 or c.shape != product.shape or c.dtype != a.dtype:
        raise ShapeError(f"cannot add {a.shape} @ {b.shape} into {c.shape} {c.dtype.name}")
    if any(t.shape != () or t.dtype != c.dtype for t in types[3:]):
        raise DTypeError("alpha and beta must be 0-d of the matrices' dtype")
    return c


def _matmul_add_reference(xs: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    c, a, b = xs[:3]
    alpha, beta = matmul_add_scalars(xs, attrs)
    product = np.matmul(a, b) * alpha
    scaled_c = c * beta
    out = scaled_c - product if attrs["subtract"] else scaled_c + product
    return np.asarray(out, dtype=c.dtype)


register("matmul_add", "opaque", _infer_matmul_add, _matmul_add_reference,
         differentiable=False)


# ---- gradients (VJP rules) -------------------------------------------------------

from .registry import apply, defvjp  # noqa: E402


def swap_perm(ndim: int) -> tuple[int, ...]:
    """The permutation that swaps the last two axes (a batched matrix transpose)."""
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


def is_swap(node) -> bool:
    """Whether ``node`` is a transpose of its input's last two axes that still has its
    input (shared by the matmul VJP and the ``matmul_layout`` pass)."""
    return (node.op == "transpose" and bool(node.inputs)
            and tuple(node.attrs["perm"]) == swap_perm(node.type.ndim))


def _swap_last(node):
    if is_swap(node):
        return node.inputs[0]  # swapping back: the transpose's own input
    return apply("transpose", [node], perm=swap_perm(node.type.ndim))


@defvjp("matmul", needs=True)
def _matmul_vjp(node, g, needs=(True, True)):
    a, b = node.inputs
    gb = None
    if needs[1]:
        if is_swap(b):
            # b = wᵀ (F.linear's weight): w's gradient is (aᵀ·g)ᵀ = gᵀ·a. Built as
            # (gᵀ·a)ᵀ, whose outer swap the transpose's VJP undoes, so the product lands
            # in w's layout with no transposes (what the matmul_layout pass would do).
            gb = _swap_last(apply("matmul", [_swap_last(g), a]))
        else:
            gb = apply("matmul", [_swap_last(a), g])
    return apply("matmul", [g, _swap_last(b)]) if needs[0] else None, gb
