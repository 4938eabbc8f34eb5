"""The kernel IR: one fused loop kernel as backend-neutral, immutable data.

Lowering (graphc/codegen/lower.py) turns a fused :class:`~graphc.ir.Kernel` into a
:class:`KernelIR`; a backend's schedule annotates it (graphc/codegen/cpu_schedule.py) and
its renderer prints the scheduled IR (graphc/codegen/cpu.py). The IR says *what* a kernel
computes, never how a backend writes it:

- the iteration domain: its sizes, which axes are reduced, and for each axis of more
  than one point the size parameter giving its extent at run time;
- a table of scalar values in SSA form (each refers to earlier values by position):
  loads of input arrays at index expressions, runtime scalar parameters, typed
  literals, named scalar ops (``add``, ``exp``, ``where``, ``cast``, ...: names whose
  meaning the op definitions give, whose text a renderer's table gives), guarded
  values (a constant pad: the value where a condition holds, else a fill) and
  reductions as (combine, identity, axes) of one value over the reduced axes;
- stores: which value each output receives, at which index, over the whole domain or
  once per row (a value of the reduced shape);
- the signature: input arrays, scalar parameters and output arrays, in call order, and
  the sizes as integer parameters (``sizes``: their values for this graph; a kernel is
  specialised on ranks and on which axes are 1, never on sizes).

Index expressions are small trees (:class:`Ix`) over loop variables (``i0``, ``i1``,
...), integer literals and size parameters. Everything is frozen; ``str(ir)`` is a
readable listing (``graphc.explain`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Index operators and the Python precedence used to print them with few parentheses.
_INFIX = {"and": 1, ">=": 3, "<=": 3, ">": 3, "<": 3, "==": 3, "+": 5, "-": 5,
          "*": 6, "//": 6, "%": 6}


@dataclass(frozen=True)
class Ix:
    """An integer (or, for guards, boolean) index expression.

    ``op`` is ``"var"`` (``args = (name,)``: a loop variable), ``"lit"`` (an int),
    ``"size"`` (``args = (k,)``: size parameter ``k``), an infix operator of
    ``_INFIX`` or a function ``abs``, ``min``, ``max`` over child expressions."""

    op: str
    args: tuple = ()

    def text(self, name_of_size, rename: dict[str, str] | None = None) -> str:
        """This expression as Python source: ``name_of_size(k)`` prints a size parameter,
        ``rename`` maps loop variable names (an unsigned copy of an index)."""
        return _ix_text(self, name_of_size, rename or {}, 0)

    def __str__(self) -> str:
        return self.text(lambda k: f"n{k}")

    @property
    def is_var(self) -> bool:
        return self.op == "var"


def var(name: str) -> Ix:
    """A loop variable."""
    return Ix("var", (name,))


def lit(value: int) -> Ix:
    """An integer literal."""
    return Ix("lit", (int(value),))


def _ix_text(e: Ix, size, rename: dict[str, str], outer: int) -> str:
    if e.op == "var":
        return rename.get(e.args[0], e.args[0])
    if e.op == "lit":
        return repr(e.args[0])
    if e.op == "size":
        return size(e.args[0])
    if e.op in _INFIX:
        prec = _INFIX[e.op]
        left, right = e.args
        text = (f"{_ix_text(left, size, rename, prec)} {e.op} "
                f"{_ix_text(right, size, rename, prec + 1)}")
        return f"({text})" if prec < outer else text
    return f"{e.op}(" + ", ".join(_ix_text(a, size, rename, 0) for a in e.args) + ")"


def _index_text(index: tuple[Ix, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


# ---- scalar values (SSA: arguments are positions of earlier values) ---------------------

@dataclass(frozen=True)
class Load:
    """Element ``index`` of input array parameter ``param``."""

    param: int
    index: tuple[Ix, ...]
    dtype: str

    def __str__(self) -> str:
        return f"load p{self.param}{_index_text(self.index)}"


@dataclass(frozen=True)
class ScalarParam:
    """A scalar passed at run time (a learning rate)."""

    param: int
    dtype: str

    def __str__(self) -> str:
        return f"p{self.param}"


@dataclass(frozen=True)
class Literal:
    """A constant of ``dtype`` (``value`` a Python number)."""

    value: bool | int | float
    dtype: str

    def __str__(self) -> str:
        return f"{self.value!r}:{self.dtype}"


@dataclass(frozen=True)
class Apply:
    """Named scalar op ``op`` of earlier values ``args``. ``operand_dtype`` is the dtype
    of the first argument (an implementation may depend on it: float32 ``exp``);
    ``attrs`` are static attributes as ``(name, value)`` pairs (``cast``: its dtype)."""

    op: str
    args: tuple[int, ...]
    dtype: str
    operand_dtype: str = ""
    attrs: tuple = ()

    def __str__(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.attrs)
        return f"{self.op}(" + ", ".join(f"%{a}" for a in self.args) + f"{extra})"


@dataclass(frozen=True)
class Guarded:
    """Value ``value`` where ``condition`` holds, else the literal ``fill`` (the read of a
    constant pad: the index is clamped into range, the condition says if it was)."""

    value: int
    condition: Ix
    fill: bool | int | float
    dtype: str

    def __str__(self) -> str:
        return f"%{self.value} if {self.condition} else {self.fill!r}"


@dataclass(frozen=True)
class Reduce:
    """``combine`` (sum, prod, max, min, argmax, argmin) of value ``input`` over the
    domain's reduced axes, starting from ``identity``; ``position_axis`` is the axis
    whose index argmax/argmin return. ``src_dtype``: the reduced values' dtype;
    ``dtype``: the result's."""

    combine: str
    input: int
    axes: tuple[int, ...]
    identity: bool | int | float
    src_dtype: str
    dtype: str
    position_axis: int | None = None

    def __str__(self) -> str:
        return (f"reduce {self.combine}(%{self.input}) over axes {self.axes} "
                f"from {self.identity!r}")


Value = Load | ScalarParam | Literal | Apply | Guarded | Reduce


@dataclass(frozen=True)
class Store:
    """Output parameter ``param`` receives value ``value`` at ``index``; ``per_row``: once
    per row (a value of the reduced shape), else at every point of the domain."""

    param: int
    value: int
    index: tuple[Ix, ...]
    per_row: bool

    def __str__(self) -> str:
        where = "per row" if self.per_row else "per point"
        return f"store p{self.param}{_index_text(self.index)} = %{self.value}  ({where})"


@dataclass(frozen=True)
class Param:
    """One argument: ``kind`` is ``"in"`` (an array read), ``"out"`` (an array written) or
    ``"scalar"``; ``node`` is the graph node it binds (not part of the IR's identity)."""

    kind: str
    dtype: str
    ndim: int
    node: object = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.kind} {self.dtype}" + (f"[{self.ndim}d]" if self.kind != "scalar" else "")


@dataclass(frozen=True)
class KernelIR:
    """One loop kernel (see the module doc). ``dims[k]`` is the size parameter of domain
    axis ``k`` (None where the axis has one point); ``sizes`` the size parameters'
    values for the graph it was lowered from; ``reductions`` the positions of its
    :class:`Reduce` values, in computation order."""

    name: str
    domain: tuple[int, ...]
    reduce_axes: tuple[int, ...]
    dims: tuple[int | None, ...]
    sizes: tuple[int, ...]
    values: tuple[Value, ...]
    reductions: tuple[int, ...]
    stores: tuple[Store, ...]
    params: tuple[Param, ...]
    ops: tuple[str, ...]

    @property
    def loop_axes(self) -> list[int]:
        """The axes with more than one point (an axis of size 1 has no loop)."""
        return [a for a, d in enumerate(self.domain) if d != 1]

    @property
    def kept_axes(self) -> list[int]:
        return [a for a in self.loop_axes if a not in self.reduce_axes]

    @property
    def reduced_axes(self) -> list[int]:
        return [a for a in self.loop_axes if a in self.reduce_axes]

    def depends_on(self, value: int, reduction: int | None = None) -> bool:
        """Whether ``value`` reads ``reduction`` (any reduction if None), directly or
        through other values (reductions included)."""
        stack, seen = [value], set()
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            item = self.values[v]
            if isinstance(item, Reduce) and (reduction is None or v == reduction):
                return True
            stack.extend(_operands(item))
        return False

    def closure(self, value: int) -> list[int]:
        """The values ``value`` is computed from (itself included), each after its
        operands, in the order a depth-first walk from ``value`` meets them; a reduction
        is included but not what it reduces (it is computed before, in its own loop)."""
        order, seen, stack = [], set(), [(value, False)]
        while stack:
            v, ready = stack.pop()
            if ready:
                order.append(v)
                continue
            if v in seen:
                continue
            seen.add(v)
            stack.append((v, True))
            item = self.values[v]
            if not isinstance(item, Reduce):
                stack.extend((a, False) for a in reversed(_operands(item)))
        return order

    def reductions_read(self, value: int) -> set[int]:
        """The reductions ``value`` needs computed first (``value`` itself if it is one)."""
        return {v for v in self.closure(value) if isinstance(self.values[v], Reduce)}

    def __str__(self) -> str:
        domain = " x ".join(f"n{d}" if d is not None else "1" for d in self.dims) or "scalar"
        lines = [f"kernel {self.name}: domain {domain}"
                 + (f", reducing axes {self.reduce_axes}" if self.reduce_axes else "")
                 + "  (sizes: " + ", ".join(f"n{k}={v}" for k, v in enumerate(self.sizes))
                 + ")",
                 "  params: " + ", ".join(f"p{k} {p}" for k, p in enumerate(self.params))]
        lines += [f"  %{k} = {v}" for k, v in enumerate(self.values)]
        lines += [f"  {s}" for s in self.stores]
        return "\n".join(lines)


def _operands(item: Value) -> tuple[int, ...]:
    if isinstance(item, Apply):
        return item.args
    if isinstance(item, Guarded):
        return (item.value,)
    if isinstance(item, Reduce):
        return (item.input,)
    return ()


def operands(item: Value) -> tuple[int, ...]:
    """The positions of the values ``item`` is computed from."""
    return _operands(item)
