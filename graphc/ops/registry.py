"""The op registry: each op declares, in one place, its inference, its NumPy reference,
its fusion kind (with a named scalar op for elementwise ops) and its VJP rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import (
    EMPTY_ATTRS,
    Attrs,
    DTypeError,
    GraphcError,
    Node,
    ShapeError,
    TensorType,
    make_node,
    user_location,
)
from ..ir.kernel_ir import Ix

KINDS = ("elementwise", "reduce", "movement", "opaque", "leaf")

InferFn = Callable[[Sequence[TensorType], Attrs], TensorType]
ReferenceFn = Callable[[Sequence[np.ndarray], Attrs], np.ndarray]
#: An index map's ``size``: a dimension's extent → the index expression standing for it.
IndexSize = Callable[[int], Ix]
#: ``index_map(in_type, out_type, attrs, out_index, size) -> in_index`` of a movement op.
IndexMap = Callable[[TensorType, TensorType, Attrs, tuple[Ix, ...], IndexSize],
                    tuple[Ix, ...]]


@dataclass(eq=False)
class OpDef:
    """Everything graphc knows about one op.

    ``scalar_op`` names, for an elementwise op, the scalar op the kernel IR computes at
    each point, and for a reduction its combine (``sum``, ``max``, ``argmax``, ...: a
    kernel IR ``Reduce``) (graphc/ir/kernel_ir.py); each backend's renderer has its text.
    ``index_map`` (movement ops only) maps the index expressions (kernel IR ``Ix``
    trees) of an output element to those of the input element it reads (see
    :mod:`graphc.ops.movement`).
    ``vjp(node, grad_out) -> tuple of input gradients (or None)`` is declared beside the
    op with :func:`defvjp`. How a backend computes an opaque op is not here: it is that
    backend's library table (``graphc.backends``).
    """

    name: str
    kind: str
    infer: InferFn
    reference: ReferenceFn
    scalar_op: str | None = None
    vjp: Callable[..., Any] | None = None
    differentiable: bool = True
    index_map: IndexMap | None = None
    vjp_needs: bool = False  # the rule takes a third argument: which inputs need one
    # Ops that stand for a subgraph (graphc.ops.lowering): a composite op's expansion is
    # its recorded template; a marker (a deferred gradient) must be lowered before it
    # can be evaluated or differentiated.
    composite: bool = False
    marker: bool = False
    # Ops that only matter to autodiff (identity, custom_grad): their value is their
    # first input, and the ``dce`` pass erases them before fusion.
    autodiff_wrapper: bool = False
    # "always" or "wide" where a compiled kernel computes this op with the bits of its
    # reference ("" otherwise): set and explained in graphc/ops/exact.py.
    exact: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"op {self.name}: unknown kind {self.kind!r}")
        if self.kind == "elementwise" and self.scalar_op is None:
            raise ValueError(f"elementwise op {self.name} needs a scalar op")


OPS: dict[str, OpDef] = {}


def register(name: str, kind: str, infer: InferFn, reference: ReferenceFn,
             scalar_op: str | None = None, differentiable: bool = True,
             index_map: IndexMap | None = None) -> OpDef:
    """Declare an op. Names are stable: dumps and visualisation depend on them."""
    if name in OPS:
        raise ValueError(f"op {name} is already registered")
    if kind == "movement" and index_map is None:
        raise ValueError(f"movement op {name} needs an index map")
    op = OpDef(name, kind, infer, reference, scalar_op, None, differentiable, index_map)
    OPS[name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def apply(name: str, inputs: Sequence[Node], **attrs: Any) -> Node:
    """Build ``name(inputs; attrs)`` after checking it; errors name the op and user line.

    >>> import numpy as np
    >>> from graphc.ir import buffer_node
    >>> x = buffer_node(np.ones((2, 3), np.float32), "cpux")
    >>> apply("transpose", [x], perm=(1, 0)).type.shape
    (3, 2)
    """
    op = OPS.get(name)
    if op is None:
        op = get_op(name)  # raises the unknown-op error
    # Building nodes is the per-step hot path: frozen attrs and inferred types are pure
    # functions of their inputs, so both are memoised (bounded).
    if not attrs:
        frozen = EMPTY_ATTRS
    else:
        try:
            attrs_key = tuple(sorted(attrs.items()))
            frozen = _attrs_memo.get(attrs_key)
        except TypeError:  # an unhashable value (a list): freeze it every time
            attrs_key, frozen = None, None
        if frozen is None:
            frozen = Attrs(attrs)
            if attrs_key is not None and len(_attrs_memo) < _MEMO_LIMIT:
                _attrs_memo[attrs_key] = frozen
    n = len(inputs)
    types = (inputs[0].type,) if n == 1 else (inputs[0].type, inputs[1].type) if n == 2 \
        else tuple([i.type for i in inputs])
    infer_key = (name, types, frozen._items)  # hashes in C (Attrs.__hash__ is Python)
    out_type = _infer_memo.get(infer_key)
    if out_type is None:
        try:
            out_type = op.infer(types, frozen)
        except GraphcError as err:
            # A composite op's inference builds primitives, whose errors name the line.
            where = f"({user_location()})"
            text = str(err)
            raise type(err)(f"{name}: {text}" if text.endswith(where)
                            else f"{name}: {text} {where}") from None
        if len(_infer_memo) < _MEMO_LIMIT:
            _infer_memo[infer_key] = out_type
    return make_node(name, inputs if type(inputs) is tuple else tuple(inputs), frozen,
                     out_type)


_MEMO_LIMIT = 1 << 16
_attrs_memo: dict = {}
_infer_memo: dict = {}



def check_devices(types: Sequence[TensorType]) -> str:
    """The common device of ``types``; operands on different devices are an error."""
    devices = {t.device for t in types}
    if len(devices) > 1:
        raise DTypeError(f"operands are on different devices {sorted(devices)}; "
                         "move them with .to(device) first")
    return types[0].device


def is_float(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.floating)


__all__ = ["KINDS", "OPS", "OpDef", "apply", "check_devices", "get_op", "is_float", "register",
           "DTypeError", "ShapeError"]


def defvjp(name: str, needs: bool = False) -> Callable:
    """Declare the VJP rule of op ``name``: ``rule(node, g) -> one gradient (a Node or
    None) per input``, built from other ops so gradients are ordinary nodes.

    With ``needs=True`` the rule is ``rule(node, g, needs=None)``: autodiff passes one
    bool per input saying whether that gradient is wanted, and the rule may return None
    for the others instead of building nodes nobody reads (``None`` means all wanted).
    """

    def declare(rule: Callable) -> Callable:
        op = get_op(name)
        op.vjp = rule
        op.vjp_needs = needs
        return rule

    return declare
