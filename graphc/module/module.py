"""``Module``: MegEngine's module base class.

Parameters (``graphc.Parameter``), buffers (other Tensor attributes) and submodules are
discovered by scanning attributes in sorted-name order, including inside lists, tuples
and dicts (dotted keys such as ``blocks.1.weight``). ``__call__`` runs the forward
pre-hooks, ``forward`` and the forward hooks, inside a module scope so that every node
built records the module's dotted name (``node.meta.scope``).

>>> import graphc
>>> import graphc.module as M
>>> class Net(M.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = M.Linear(3, 2)
...     def forward(self, x):
...         return self.fc(x)
>>> [name for name, _ in Net().named_parameters()]
['fc.bias', 'fc.weight']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import lazy
from ..ir import buffer_node, module_scope
from ..tensor import Parameter, Tensor, place


class HookHandler:
    """Returned by ``register_forward_*hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: OrderedDict, key: int) -> None:
        self._hooks = hooks
        self._key = key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


def _items(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for ``value`` and what lists, tuples and dicts hold."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _items(item, f"{prefix}.{i}")
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            if not isinstance(key, str) and _holds_state(value[key]):
                raise AssertionError(f"dict keys holding Tensors or Modules must be str, "
                                     f"got {key!r} in {prefix}")
            yield from _items(value[key], f"{prefix}.{key}")
    else:
        yield prefix, value


def _holds_state(value: Any) -> bool:
    return any(isinstance(v, (Tensor, Module)) for _, v in _items(value, ""))


class Module:
    """Base class of layers and models: subclasses define ``forward``."""

    def __init__(self, name: str | None = None) -> None:
        # Attributes a subclass set before calling this (MegEngine allows plain values
        # there) are kept.
        object.__setattr__(self, "_initialized", True)
        self.__dict__.setdefault("_module_order", [])
        self.name = name or ""
        self.training = True
        self._forward_pre_hooks: OrderedDict = OrderedDict()
        self._forward_hooks: OrderedDict = OrderedDict()
        self._scope = ""
        self._hook_ids = 0

    def __setattr__(self, name: str, value: Any) -> None:
        public = not name.startswith("_")
        holds_modules = public and any(
            isinstance(item, Module) for _, item in _items(value, name))
        if not self.__dict__.get("_initialized"):
            if holds_modules:  # as MegEngine: plain attributes may come first, modules not
                raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                     f"assigning a module (setting {name!r})")
            object.__setattr__(self, name, value)
            return
        if holds_modules:
            for key, item in _items(value, name):
                if isinstance(item, Module):
                    object.__setattr__(item, "_scope", key)
        # Assignment order, for repr: MegEngine's _modules lists modules and containers
        # (a list filled with modules after it is assigned shows where it was assigned).
        order = self._module_order
        module_like = public and isinstance(value, (Module, list, tuple, dict))
        if module_like and name not in order:
            order.append(name)
        elif not module_like and name in order:
            order.remove(name)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only reached for a missing attribute: say why when __init__ never ran.
        if not self.__dict__.get("_initialized"):
            raise AttributeError(f"{type(self).__name__}.{name}: Module.__init__() was not "
                                 "called; call super().__init__() in __init__")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        if name in self.__dict__.get("_module_order", ()):
            self._module_order.remove(name)

    # ---- calling ------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                result = hook(self, inputs)
                if result is not None:
                    inputs = result if isinstance(result, tuple) else (result,)
        with module_scope(self._scope):
            outputs = self.forward(*inputs, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                result = hook(self, inputs, outputs)
                if result is not None:
                    outputs = result
        return outputs

    def register_forward_pre_hook(self, hook: Callable) -> HookHandler:
        """``hook(module, inputs) -> new inputs or None``, run before ``forward``."""
        return self._register(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable) -> HookHandler:
        """``hook(module, inputs, outputs) -> new outputs or None``, run after it."""
        return self._register(self._forward_hooks, hook)

    def _register(self, hooks: OrderedDict, hook: Callable) -> HookHandler:
        self._hook_ids += 1
        hooks[self._hook_ids] = hook
        return HookHandler(hooks, self._hook_ids)

    # ---- discovery ----------------------------------------------------------------
    def _tensors(self, keep: Callable[[Tensor], bool], recursive: bool, prefix: str
                 ) -> Iterator[tuple[str, Tensor]]:
        """Tensors in MegEngine's order: attributes sorted by name, a submodule's tensors
        where the submodule's attribute sorts; each tensor once."""
        seen: set[int] = set()

        def walk(module: Module, base: str) -> Iterator[tuple[str, Tensor]]:
            for attr in sorted(vars(module)):
                if attr.startswith("_"):
                    continue
                for key, value in _items(vars(module)[attr], attr):
                    full = f"{base}.{key}" if base else key
                    if isinstance(value, Tensor) and keep(value) and id(value) not in seen:
                        seen.add(id(value))
                        yield full, value
                    elif isinstance(value, Module) and recursive:
                        yield from walk(value, full)

        yield from walk(self, prefix)

    def _children_with_keys(self, base: str) -> list[tuple[str, Module]]:
        out = []
        for attr in sorted(vars(self)):
            if attr.startswith("_"):
                continue
            for key, value in _items(vars(self)[attr], attr):
                if isinstance(value, Module):
                    out.append((f"{base}.{key}" if base else key, value))
        return out

    def named_parameters(self, prefix: str | None = None, recursive: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter), sorted by attribute name, each Parameter once."""
        yield from self._tensors(lambda t: isinstance(t, Parameter), recursive, prefix or "")

    def parameters(self, recursive: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recursive=recursive):
            yield p

    def named_buffers(self, prefix: str | None = None, recursive: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        """Tensor attributes that are not Parameters (running statistics, ...)."""
        yield from self._tensors(lambda t: not isinstance(t, Parameter), recursive,
                                 prefix or "")

    def buffers(self, recursive: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recursive=recursive):
            yield b

    def named_tensors(self, prefix: str | None = None, recursive: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        yield from self._tensors(lambda t: True, recursive, prefix or "")

    def tensors(self, recursive: bool = True) -> Iterator[Tensor]:
        for _, t in self.named_tensors(recursive=recursive):
            yield t

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for key, module in self._children_with_keys(""):
            if id(module) not in seen:
                seen.add(id(module))
                yield key, module

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str | None = None) -> Iterator[tuple[str, Module]]:
        """Self (named ``""`` or ``prefix``) and every submodule, depth first."""
        seen: set[int] = set()
        stack = [(prefix or "", self)]
        while stack:
            key, module = stack.pop(0)
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield key, module
            stack[:0] = module._children_with_keys(key)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def apply(self, fn: Callable[[Module], Any]) -> None:
        for module in self.modules():
            fn(module)

    def train(self, mode: bool = True, recursive: bool = True) -> None:
        targets = self.modules() if recursive else [self]
        for module in targets:
            object.__setattr__(module, "training", mode)

    def eval(self) -> None:
        self.train(False)

    # ---- state --------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Parameters and buffers as read-only NumPy arrays, by dotted name."""
        out: OrderedDict = OrderedDict()
        for key, t in self.named_tensors():
            value = np.array(t.numpy())
            value.flags.writeable = False
            out[key] = value
        return out

    def load_state_dict(self, state: dict | Callable, strict: bool = True) -> None:
        """Load values by dotted name (or from ``closure(key, tensor) -> array | None``).

        With ``strict``, missing or unexpected keys raise KeyError; a shape mismatch
        raises ValueError. Tensors are rebound through graphc's one mutation door.
        """
        own = OrderedDict(self.named_tensors())
        if callable(state):
            loaded = {k: state(k, t) for k, t in own.items()}
            loaded = {k: v for k, v in loaded.items() if v is not None}
        else:
            loaded = dict(state)
            unexpected = sorted(set(loaded) - set(own))
            if strict and unexpected:
                raise KeyError(f"load_state_dict: unexpected keys {unexpected}")
        missing = sorted(set(own) - set(loaded))
        if strict and missing:
            raise KeyError(f"load_state_dict: missing keys {missing}")
        for key, value in loaded.items():
            if key not in own:
                continue
            tensor = own[key]
            array = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
            if array.shape != tensor.shape:
                raise ValueError(f"load_state_dict: {key} has shape {array.shape}, the module "
                                 f"expects {tensor.shape}")
            array = np.array(array, dtype=tensor.dtype, order="C")
            array.flags.writeable = False
            device = tensor._node.type.device
            lazy.rebind(tensor, buffer_node(place(array, device), device))

    def to(self, device: Any) -> Module:
        """Move every parameter and buffer to ``device`` (``"gpu0"``, ``"cpux"``, ...),
        in place: the same Parameter objects (an optimizer built on them keeps working)
        now hold copies on ``device``. Returns the module.

        >>> import graphc.module as M
        >>> layer = M.Linear(2, 3).to("cpux")
        >>> str(layer.weight.device)
        'cpux:0'
        """
        from ..device import canonical_device, check_available
        from ..functional.tensor import copy

        name = canonical_device(device)
        check_available(name)
        moved = []
        for tensor in self.tensors():
            if tensor._node.type.device != name:
                lazy.rebind(tensor, copy(tensor, name)._node)
                moved.append(tensor._node)
        lazy.realize(moved)
        return self

    # ---- repr ---------------------------------------------------------------------
    def _module_info_string(self) -> str:
        return ""

    def __repr__(self) -> str:
        """MegEngine's form: ``Name(extra)`` for a leaf; otherwise one line per line of
        the extra repr, then ``(key): child`` per submodule in assignment order, each
        indented by two spaces.

        >>> import graphc.module as M
        >>> print(M.Sequential(M.Linear(2, 3), M.ReLU()))
        Sequential(
          (0): Linear(in_features=2, out_features=3, bias=True)
          (1): ReLU()
        )
        """
        extra = self._module_info_string()
        extra_lines = extra.split("\n") if extra else []
        child_lines = []
        for attr in self._module_order:
            for key, child in _items(self.__dict__.get(attr), attr):
                if isinstance(child, Module):
                    child_lines.append(f"({key}): " + repr(child).replace("\n", "\n  "))
        lines = extra_lines + child_lines
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        body = "\n  " + "\n  ".join(lines) + "\n" if lines else ""
        return f"{type(self).__name__}({body})"
