"""The optimizer base class: parameter groups, per-parameter state, one-Program steps.

Subclasses say how one parameter moves (``_update``) by building ordinary lazy tensor
arithmetic. :meth:`Optimizer.step` collects the new value of every parameter and state
tensor, realizes them all in one call of :func:`graphc.lazy.realize` (so the pending
forward, backward and update compile into one Program), then points each tensor at its
new value through :func:`graphc.lazy.rebind`, the one door for mutations.

Hyper-parameters (``lr``, momentum, betas, ...) enter the graph as fresh 0-d buffer
leaves made each step (:class:`Scalars`), never as literals: structural keys abstract a
buffer to its type, so changing ``group["lr"]`` reuses the compiled Program. Per-step
counters (Adam's and Adagrad's ``step``) are float32 0-d state tensors updated in the
step's graph, as in MegEngine, and bias corrections are computed from them in the graph,
so step 2 has step 1's structure. Under ``@graphc.jit`` the scalars are bound state read
from the groups on every call and the counters are written back like any state, so a
traced step replays for any number of steps and any learning rate; only a change that
shapes the graph (a hyper-parameter turned from zero to non-zero, ``nesterov``) retraces.

(Python float literals would be runtime arguments too, but their values still shape the
key: 0 and ±1 are kept in it, and two literals that happen to be equal are hash-consed
into one node, so ``lr=0.1`` next to a ``mean`` over 10 items would change the graph's
structure.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import lazy
from ..ir import Node, buffer_node, topo_order
from ..ir.node import pinned_location
from ..ir.state import current
from ..ir.values import _values
from ..tensor import Parameter, Tensor

__all__ = ["Optimizer", "required"]


class _Required:
    """Sentinel for a hyper-parameter without a default (``lr`` of SGD)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Scalars:
    """The hyper-parameter scalars of one parameter group, as 0-d buffer tensors.

    ``scalars(name, like)`` is ``group[name]``; ``scalars(name, like, recipe)`` is
    ``recipe(group)`` (a value derived from the group, such as ``1 - betas[0]``). Each
    is made once per (name, dtype, device) and step, so a float16 parameter gets
    float16 scalars and its update stays float16. The recipe is kept: under
    ``@graphc.jit`` the traced step reads every scalar from the group on each call
    (the trace is told of each Scalars made while it runs, and binds :meth:`bindings`),
    so a scheduler's new ``lr`` needs no retrace.

    >>> import graphc
    >>> scalars = Scalars({"lr": 0.5, "betas": (0.9, 0.99)})
    >>> like = graphc.tensor([1., 2.])
    >>> scalars("lr", like), scalars("1-beta1", like, lambda g: 1 - g["betas"][0])
    (Tensor(0.5, device=xpux:0), Tensor(0.1, device=xpux:0))
    """

    def __init__(self, group: dict[str, Any]) -> None:
        self.group = group
        self._made: dict[tuple, tuple[Tensor, Callable[[dict], float]]] = {}
        if lazy.active_traces():  # graphc.jit binds these scalars to the group
            lazy.active_traces()[-1].note_scalars(self)

    def __call__(self, name: str, like: Tensor,
                 recipe: Callable[[dict[str, Any]], float] | None = None) -> Tensor:
        device = like._node.type.device
        key = (name, like.dtype, device)
        made = self._made.get(key)
        if made is None:
            if recipe is None:
                recipe = _entry(name)
            data = np.asarray(recipe(self.group), dtype=like.dtype)
            data.flags.writeable = False
            made = self._made[key] = (Tensor._wrap(buffer_node(data, device)), recipe)
        return made[0]

    def bindings(self) -> list[tuple[Tensor, Callable[[], float]]]:
        """Each scalar with a function giving its value from the group as it is now."""
        group = self.group
        return [(tensor, functools.partial(recipe, group))
                for tensor, recipe in self._made.values()]


def _entry(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda group: group[name]


def _structure(value: Any) -> Any:
    """What of a hyper-parameter may shape an update's graph: a number only by whether
    it is zero (``if weight_decay:``), since its value enters through :class:`Scalars`."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.number)):
        return ("number", value != 0)
    if isinstance(value, (tuple, list)):
        return tuple(_structure(v) for v in value)
    return value


def _zeros_like(param: Tensor) -> Tensor:
    """A realized zero buffer shaped like ``param`` (state starts as data, not a literal,
    so step 1 and step 2 have the same graph structure)."""
    return Tensor(np.zeros(param.shape, dtype=param.dtype), device=param.device)


def step_counter(param: Tensor) -> Tensor:
    """A step count as MegEngine keeps it: a realized float32 0-d tensor on ``param``'s
    device (exact up to 2**24 steps), advanced in the step's graph."""
    return Tensor(np.zeros((), np.float32), device=param.device)


def as_dtype(tensor: Tensor, dtype: np.dtype) -> Tensor:
    """``tensor`` cast to ``dtype`` (the parameter's), when it is not already."""
    return tensor if tensor.dtype == dtype else tensor.astype(dtype)


def _pending_mutations() -> list[Node]:
    """The thread's Tensors rebound to a pending value since the last step (BatchNorm
    running statistics, ``x += 1``; graphc.lazy's rebind notes them in the thread's
    state): step() realizes them in its Program, so that state updated every step never
    chains into the next step's graph."""
    mutated = current().mutated
    if not mutated:  # the usual step (iterating an empty WeakValueDictionary costs 5 µs)
        return []
    nodes = [t._node for t in list(mutated.values()) if t._node.buffer is None]
    mutated.clear()
    return nodes


def _live_readers(replaced: set[int], roots: list[Node], tensors: list[Tensor]
                  ) -> tuple[list[Node], list[Node] | None]:
    """Nodes of the live pending ``tensors`` whose graphs read one of the ``replaced``
    nodes, and ``topo_order(roots + readers)`` when every live pending Tensor is a reader
    (the usual step: the loss, the gradients), else None. One walk serves both: the
    readers and the order the step's realization needs."""
    live = [t._node for t in tensors]
    order = topo_order(roots + live)
    if not live:
        return [], order
    reads: set[int] = set()
    realized = _values
    for node in order:  # a loop, not any(): a hot path
        uid = node.uid
        if uid in replaced:
            reads.add(uid)
        elif uid not in realized:  # (a leaf has no inputs to read through)
            for i in node.inputs:
                if i.uid in reads:
                    reads.add(uid)
                    break
    readers = [n for n in live if n.uid in reads]
    return readers, order if len(readers) == len(live) else None


def _replacing(targets: list[Tensor], values: list[Tensor]) -> dict[int, Node]:
    """New value's uid → the realized node its target gives up for it: what the step may
    overwrite in place when nothing else holds it (graphc/runtime/donation.py)."""
    return {value._node.uid: target._node for target, value in zip(targets, values)
            if target._node.buffer is not None}


class Optimizer:
    """Base class: holds ``param_groups`` and per-parameter ``state``.

    ``params`` is an iterable of :class:`graphc.Parameter` or of dicts (parameter
    groups) with a ``"params"`` entry and any hyper-parameters overriding ``defaults``.

    >>> import graphc, graphc.optimizer as optim
    >>> w = graphc.Parameter([1., 2.])
    >>> opt = optim.SGD([{"params": [w], "lr": 0.5}], lr=0.1)
    >>> opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
    (0.5, 0.0)
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict] | Parameter | dict,
                 defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._state: dict[Parameter, dict[str, Any]] = {}
        if isinstance(params, (Tensor, dict)):
            params = [params]
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    # -- groups and state -----------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (defaults fill in).

        >>> import graphc, graphc.optimizer as optim
        >>> opt = optim.SGD([graphc.Parameter([1.])], lr=0.1)
        >>> opt.add_param_group({"params": graphc.Parameter([2.]), "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}.add_param_group: expected a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{name}: can only optimize graphc.Parameter, got "
                                f"{type(p).__name__}")
            if not np.issubdtype(p.dtype, np.floating):
                raise TypeError(f"{name}: can only optimize floating-point parameters, got "
                                f"{p.dtype.name} of shape {p.shape}")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: a parameter group lists the same parameter twice")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & set(ids):
            raise ValueError(f"{name}.add_param_group: some parameters already belong to "
                             f"another parameter group")
        group = dict(param_group)
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group has no {key!r} and there is no "
                                 f"default; pass {key}=...")
            group.setdefault(key, default)
        self._check_group(group)
        self.param_groups.append(group)
        for p in params:
            if p not in self._state:
                self._state[p] = self._create_state(p, group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate hyper-parameters (subclasses raise ValueError on bad values)."""
        lr = group.get("lr")
        if isinstance(lr, (int, float)) and lr < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr}")

    def _create_state(self, param: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The initial state of one parameter (subclasses)."""
        return {}

    @property
    def state(self) -> dict[Parameter, dict[str, Any]]:
        """Per-parameter state: Tensors (moments, buffers, float32 0-d step counts)."""
        return self._state

    def _params(self) -> list[Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    # -- stepping -------------------------------------------------------------------
    def _update(self, param: Parameter, grad: Tensor, group: dict[str, Any],
                state: dict[str, Any], scalars: Scalars) -> dict[str, Any]:
        """New lazy values for one parameter: ``{"param": Tensor, <state key>: value}``.

        Tensor entries are realized with the step and rebound; other entries are stored
        as they are once the step has run. Numeric hyper-parameters enter through
        ``scalars``; Python code here may branch on one only by whether it is zero (and
        on bools), which is what :meth:`_trace_guard` keys a traced step on.
        """
        raise NotImplementedError

    def step(self) -> Optimizer:
        """Update every parameter that has a gradient, as one compiled Program.

        Returns ``self``, so ``opt.step().clear_grad()`` works. Gradients are not
        modified. Every live pending Tensor that reads a value the step replaces (the
        loss the user prints next, accuracy counters) is computed in the same Program,
        with the pre-step values, and so is every Tensor rebound to a pending value since
        the last step (BatchNorm's running statistics), so no graph chains across steps.
        """
        if lazy.active_traces():  # graphc.jit hook: a trace keys its cache on Python-side state
            lazy.active_traces()[-1].note_optimizer(self)
        targets: list[Tensor] = []
        values: list[Tensor] = []
        plain: list[tuple[dict[str, Any], str, Any]] = []
        with pinned_location():  # every update node records the user's step() line
            for group in self.param_groups:
                scalars = Scalars(group)
                for param in group["params"]:
                    grad = param.grad
                    if grad is None:
                        continue
                    if grad.dtype != param.dtype:  # keep the parameter's dtype
                        grad = grad.astype(param.dtype)
                    state = self._state.get(param)
                    if state is None:
                        state = self._state[param] = self._create_state(param, group)
                    for key, value in self._update(param, grad, group, state, scalars).items():
                        if isinstance(value, Tensor):
                            targets.append(param if key == "param" else state[key])
                            values.append(value)
                        else:
                            plain.append((state, key, value))
        roots = [v._node for v in values]
        computed = {n.uid for n in roots}
        live = lazy.live_pending_tensors()
        readers, order = _live_readers({t._node.uid for t in targets}, roots, live)
        mutations = _pending_mutations()
        for n in readers + mutations:
            if n.uid not in computed:
                computed.add(n.uid)
                roots.append(n)
        lazy.realize(roots, order=None if mutations else order,
                     replacing=_replacing(targets, values), live=live)
        for target, value in zip(targets, values):
            lazy.rebind(target, value._node)
        for state, key, value in plain:
            state[key] = value
        return self

    # -- what a traced step binds (graphc.jit) ----------------------------------------
    def _trace_guard(self) -> tuple:
        """The Python-side state that shapes a step's graph: each group's hyper-parameters
        with numbers reduced to whether they are zero, and non-Tensor per-parameter state.
        A traced step is valid while this is unchanged."""
        groups = tuple(tuple((k, _structure(v)) for k, v in g.items() if k != "params")
                       for g in self.param_groups)
        plain = tuple((k, v) for st in self._state.values() for k, v in st.items()
                      if not isinstance(v, Tensor))
        return groups, plain

    def clear_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (gradients accumulate otherwise)."""
        for p in self._params():
            p.grad = None

    def zero_grad(self) -> None:
        """Deprecated in MegEngine: fill existing gradients with zeros."""
        for p in self._params():
            if p.grad is not None:
                p.grad = _zeros_like(p)

    # -- (de)serialization ----------------------------------------------------------
    def state_dict(self, keep_var: bool = False) -> dict[str, Any]:
        """``{"param_groups": [...], "state": {index: {name: value}}}``.

        Parameters are numbered in group order; Tensor state becomes NumPy arrays (kept
        as Tensors with ``keep_var=True``).

        >>> import graphc, graphc.optimizer as optim
        >>> opt = optim.SGD([graphc.Parameter([1.])], lr=0.1, momentum=0.9)
        >>> sd = opt.state_dict()
        >>> sd["param_groups"][0]["params"], sorted(sd["state"][0])
        ([0], ['momentum_buffer'])
        """
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {}
        for p in self._params():
            entries = {}
            for key, value in self._state.get(p, {}).items():
                if isinstance(value, Tensor) and not keep_var:
                    value = value.numpy()
                entries[key] = value
            state[index[id(p)]] = entries
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        The optimizer must have the same groups (same sizes and keys); ValueError
        otherwise.
        """
        name = type(self).__name__
        if not isinstance(state, dict) or set(state) != {"param_groups", "state"}:
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys "
                             f"'param_groups' and 'state'")
        saved_groups = state["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: {len(saved_groups)} parameter groups "
                             f"saved, the optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has "
                                 f"{len(group['params'])} parameters, the saved one "
                                 f"{len(saved['params'])}")
            if set(group) != set(saved):
                raise ValueError(f"{name}.load_state_dict: group {i} has keys "
                                 f"{sorted(group)}, the saved one {sorted(saved)}")
        saved_state = state["state"]
        for saved in saved_groups:
            for idx in saved["params"]:
                if idx not in saved_state:
                    raise ValueError(f"{name}.load_state_dict: no state for parameter {idx}")
        # Validate everything before changing anything.
        new_states = []
        for group, saved in zip(self.param_groups, saved_groups):
            for p, idx in zip(group["params"], saved["params"]):
                new_states.append((p, self._loaded_state(p, saved_state[idx], idx)))
        for group, saved in zip(self.param_groups, saved_groups):
            for key, value in saved.items():
                if key != "params":
                    group[key] = value
        for p, loaded in new_states:
            current = self._state.setdefault(p, {})
            for key, value in loaded.items():
                if isinstance(current.get(key), Tensor) and isinstance(value, Tensor):
                    lazy.rebind(current[key], value._node)
                else:
                    current[key] = value

    def _loaded_state(self, param: Parameter, saved: dict[str, Any], idx: int) -> dict:
        """Saved state of one parameter as Tensors, checked against the current one.

        A value saved as a Python number where the state is now a Tensor (a step count
        saved as an int by older versions) becomes a Tensor of the current dtype."""
        name = type(self).__name__
        current = self._state.get(param, {})
        loaded = {}
        for key, value in saved.items():
            old = current.get(key)
            number = isinstance(value, (int, float, np.number)) and not isinstance(
                value, (bool, np.bool_))
            if isinstance(value, (np.ndarray, Tensor)) or (number and isinstance(old, Tensor)):
                array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
                if isinstance(old, Tensor) and tuple(array.shape) != old.shape:
                    raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter "
                                     f"{idx} has shape {tuple(array.shape)}, expected "
                                     f"{old.shape}")
                dtype = old.dtype if isinstance(old, Tensor) else param.dtype
                loaded[key] = Tensor(array, dtype=dtype, device=param.device)
            else:
                loaded[key] = value
        return loaded

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
