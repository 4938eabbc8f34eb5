"""Custom differentiable operations: :class:`Function`, a forward with a user-written
backward, recorded as ``custom_grad`` nodes whose VJP calls that backward (the
autodiff transform itself is in :mod:`graphc.autodiff.gradients`)."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from typing import Any

from ..ir import Node, make_node, user_location
from ..ops import apply
from ..ops.registry import Attrs
from ..tensor import Tensor

__all__ = ["Function"]

_function_ids = itertools.count()


class Function:
    """A differentiable operation with a user-written backward.

    >>> import graphc
    >>> class Square(Function):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x * x
    ...     def backward(self, dy):
    ...         return dy * 2 * self.x
    >>> x = graphc.tensor([3.])
    >>> graphc.grad(Square()(x).sum(), x).numpy()
    array([6.], dtype=float32)
    """

    def forward(self, *inputs: Tensor) -> Tensor | tuple[Tensor, ...]:
        raise NotImplementedError

    def backward(self, *output_grads: Tensor) -> Tensor | None | tuple:
        raise NotImplementedError

    def __call__(self, *inputs: Tensor) -> Any:
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{type(self).__name__}: inputs must be Tensors, got "
                                f"{type(t).__name__}")
        detached = [Tensor._wrap(apply("detach", [t._node])) for t in inputs]
        result = self.forward(*detached)
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        for out in outputs:
            if not isinstance(out, Tensor):
                raise TypeError(f"{type(self).__name__}.forward must return Tensors, got "
                                f"{type(out).__name__} ({user_location()})")
        fid = next(_function_ids)
        call = _FunctionCall(self, detached, outputs)
        wrapped = []
        for i, out in enumerate(outputs):
            node = make_node("custom_grad", (out._node, *[t._node for t in inputs]),
                             Attrs(function=fid, index=i, outputs=len(outputs)), out._node.type,
                             value=call)
            wrapped.append(Tensor._wrap(node))
        return tuple(wrapped) if isinstance(result, (tuple, list)) else wrapped[0]


class _FunctionCall:
    """What the outputs of one Function call share (the ``custom_grad`` nodes' payload):
    the Function, and weak references to the Tensors its forward saw and returned.

    While ``backward`` runs, those Tensors stand for the call's real inputs and outputs
    (as PyTorch's saved tensors do), so what the user's backward computes from them is
    differentiable again: second-order gradients through custom Functions, nested ones
    included, reach the inputs."""

    __slots__ = ("function", "inputs", "outputs", "__weakref__")

    def __init__(self, function: Function, inputs: Sequence[Tensor],
                 outputs: Sequence[Tensor]) -> None:
        self.function = function
        self.inputs = [weakref.ref(t) for t in inputs]
        self.outputs = [weakref.ref(t) for t in outputs]

    def backward(self, node: Node, siblings: Sequence[Node],
                 out_grads: Sequence[Node | None]) -> list[Node | None]:
        """Run the user's backward on the output gradients (None for an output that got
        none, as MegEngine passes); one gradient node (or None) per input."""
        fn = self.function
        stand_ins = list(zip(self.inputs, node.inputs[1:]))
        by_index = {s.attrs["index"]: s for s in siblings}
        stand_ins += [(ref, by_index[i]) for i, ref in enumerate(self.outputs) if i in by_index]
        saved = []
        for ref, real in stand_ins:
            t = ref()
            if t is not None:
                saved.append((t, t._node))
                t._node = real  # (not lazy.rebind: no mutation anyone should observe)
        try:
            result = fn.backward(*[None if g is None else Tensor._wrap(g) for g in out_grads])
        finally:
            for t, old in saved:
                t._node = old
        in_grads = result if isinstance(result, (tuple, list)) else (result,)
        inputs = node.inputs[1:]
        name = type(fn).__name__
        if len(in_grads) != len(inputs):
            raise ValueError(f"{name}.backward returned {len(in_grads)} gradients for "
                             f"{len(inputs)} inputs")
        out: list[Node | None] = []
        for k, (inp, gi) in enumerate(zip(inputs, in_grads)):
            if gi is not None and (not isinstance(gi, Tensor) or gi.shape != inp.type.shape):
                got = gi.shape if isinstance(gi, Tensor) else type(gi).__name__
                raise ValueError(f"{name}.backward: gradient {k} must be a Tensor of shape "
                                 f"{inp.type.shape} (or None), got {got}")
            out.append(None if gi is None else gi._node)
        return out
