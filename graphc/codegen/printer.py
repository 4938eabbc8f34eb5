"""What the CPU and CUDA renderers share: printing a scheduled kernel IR's values.

Both backends print Python source (``numba.njit``, ``numba.cuda.jit``), so walking the
IR's SSA values, giving each a local once per loop scope and printing loads, guards and
named scalar ops through a backend's table is one piece of code. A renderer subclasses
:class:`ValuePrinter` and says how it names a size parameter (:meth:`size_name`), how it
reads an input array (:meth:`load`) and which scalar-op table it prints with
(``scalar_op_text``); its own methods print loops, reductions and stores.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.kernel_ir import Apply, Guarded, KernelIR, Literal, Load, ScalarParam
from .python_ops import literal


class ValuePrinter:
    """The lines printed so far, the scopes of printed values, and the walk that prints
    a value with what it needs (see the module docstring)."""

    # (op, argument texts, operand dtype, attrs) -> text: the backend's scalar-op table.
    scalar_op_text: Callable[[str, list[str], str, tuple], str]

    def __init__(self, ir: KernelIR) -> None:
        self.ir = ir
        self.lines: list[str] = []
        self.prologue: list[str] = []  # statements before the loops (hoisted reads)
        self.hoisted: dict[str, str] = {}  # parameter → the local read before the loops
        self.depth = 1
        self.scopes: list[dict[int, str]] = [{}]
        self.row_vars: dict[int, str] = {}  # reduction → its value's variable
        self.counter = 0
        self.stored: set[int] = set()
        self.aliases: dict[int, int] = {}  # output param → the input param it overwrites
        self.full_index = tuple("0" if d == 1 else f"i{k}" for k, d in enumerate(ir.domain))

    # ---- lines and scopes -------------------------------------------------------
    def emit(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def push(self) -> None:
        self.scopes.append({})
        self.depth += 1

    def pop(self) -> None:
        self.scopes.pop()
        self.depth -= 1

    def lookup(self, value: int) -> str | None:
        for scope in reversed(self.scopes):
            if value in scope:
                return scope[value]
        return None

    # ---- names --------------------------------------------------------------------
    def size_name(self, k: int) -> str:
        """The source of size parameter ``k`` (each backend passes sizes its own way)."""
        raise NotImplementedError

    def dim(self, axis: int) -> str:
        k = self.ir.dims[axis]
        return "1" if k is None else self.size_name(k)

    def param_name(self, p: int) -> str:
        p = self.aliases.get(p, p)
        kind = self.ir.params[p].kind
        return f"{'s' if kind == 'scalar' else kind}{p}"

    def hoist(self, name: str, read: str) -> str:
        """A local holding ``read`` (of parameter ``name``), assigned once before the
        loops."""
        if name not in self.hoisted:
            self.hoisted[name] = f"{name}v"
            self.prologue.append(f"    {name}v = {read}")
        return self.hoisted[name]

    def load(self, item: Load) -> tuple[str, bool]:
        """The source reading ``item``, and whether it is a local already (a read
        hoisted before the loops) rather than an expression to assign."""
        raise NotImplementedError

    # ---- values -----------------------------------------------------------------
    def value(self, value: int) -> str:
        """The expression of IR value ``value``, emitting the statements it needs (each
        value once per loop scope). Iterative, so chains of any length print."""
        stack = [(value, False)]
        values = self.ir.values
        while stack:
            v, ready = stack.pop()
            if v in self.row_vars or self.lookup(v) is not None:
                continue
            item = values[v]
            if isinstance(item, (Apply, Guarded)) and not ready:
                stack.append((v, True))
                operands = item.args if isinstance(item, Apply) else (item.value,)
                stack += [(a, False) for a in reversed(operands)]
                continue
            self.scopes[-1][v] = self.expression(item)
        return self.resolved(value)

    def resolved(self, value: int) -> str:
        if value in self.row_vars:
            return self.row_vars[value]
        hit = self.lookup(value)
        assert hit is not None, value
        return hit

    def expression(self, item) -> str:
        """A value whose operands are printed: literals and parameters as they are,
        everything else into a new local."""
        if isinstance(item, Literal):
            return literal(item.value, item.dtype)
        if isinstance(item, ScalarParam):
            return self.param_name(item.param)
        if isinstance(item, Load):
            text, is_local = self.load(item)
            if is_local:
                return text
        elif isinstance(item, Guarded):
            fill = literal(item.fill, item.dtype)
            condition = item.condition.text(self.size_name)
            text = f"{self.resolved(item.value)} if {condition} else {fill}"
        elif isinstance(item, Apply):
            args = [self.resolved(a) for a in item.args]
            text = self.scalar_op_text(item.op, args, item.operand_dtype, item.attrs)
        else:
            raise AssertionError(f"reduction %{item} used before it was computed")
        var = self.fresh()
        self.emit(f"{var} = {text}")
        return var
