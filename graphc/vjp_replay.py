"""Backward replay: the VJP graph of a forward structure is derived once, then replayed.

A training loop asks for the same gradients every step: the forward graph has the same
structure (new data, same model), so :func:`graphc.autodiff.vjp_graph` would run the same
VJP rules, with the same shape checks, to build the same nodes again. Here the first
call records what it built as a recipe — each new node as ``(op, attrs, type, inputs)``
with inputs pointing into the forward graph or at earlier recipe nodes — keyed by the
forward graph's structure (ops, attrs, types, sharing, which nodes are the xs, which
nodes gradients may flow through). Later calls with the same key replay the recipe with
:func:`graphc.ir.make_node`: the same graph, without the rules' Python.

Replayed graphs are node for node what ``vjp_graph`` builds (hash-consing included, up
to the constants the rules made, which a recipe reuses): ordinary lazy nodes. VJP rules
depend only on structure (they never read a value), which is what makes a recipe valid
for every graph with its key. Graphs with custom ``Function`` nodes (user backward code)
or deferred gradients (lowered in place by ``vjp_graph``) are never replayed. Composite
ops are expanded first and their expansions keyed with the forward graph. Callers:
``graphc.grad``, the ``lower`` pass (deferred ``GradManager`` gradients) and
``GradManager.backward`` when it cannot defer.

>>> import graphc
>>> x = graphc.tensor([1., 2.])
>>> [graphc.grad((x * x).sum(), x).numpy().tolist() for _ in range(2)]
[[2.0, 4.0], [2.0, 4.0]]
>>> stats["replayed"] >= 1
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from .ir import Node, make_node, topo_order
from .ir import node as _node_module
from .ir.graph import is_input_free
from .ops import OPS, lowerings

# Recipes kept, least recently used evicted first: one per distinct backward in a loop.
MAX_RECIPES = 128

_recipes: OrderedDict = OrderedDict()
stats = {"recorded": 0, "replayed": 0}

# A recipe step: (op, attrs, type, input refs) for a built node, or (None, node) for a
# leaf the rules made (a constant), reused as it is. A ref r >= 0 is the forward graph's
# node order[r]; r < 0 is the recipe's node -1 - r.
_LEAF = None


def _forward_key(ys: Sequence[Node], dys: Sequence[Node], xs: Sequence[Node],
                 through: Callable[[Node], bool] | None) -> tuple[tuple, list[Node]] | None:
    """(key, order) of the graph the VJP walks, or None when it must not be replayed."""
    roots = list(ys) + list(dys)
    order = topo_order(roots, stop=is_input_free)
    for node in order:
        if node.inputs:
            if node.op == "custom_grad" or OPS[node.op].is_marker:
                return None  # user backward code, or deferred gradients vjp_graph lowers
    # A composite op's VJP differentiates its expansion: build the expansions first, with
    # their own metadata (the user's line, not the backward's), and key them with the
    # forward graph, so that a recipe refers to them instead of rebuilding them.
    done: set[int] = set()
    while True:
        fresh = list(lowerings([n for n in order if n.uid not in done]).values())
        if not fresh:
            break
        done.update(n.uid for n in order)
        roots += fresh
        order = topo_order(roots, stop=is_input_free)
    x_at = {x.uid: j for j, x in enumerate(xs)}
    index: dict[int, int] = {}
    entries = []
    emit = entries.append
    for i, node in enumerate(order):
        index[node.uid] = i
        if node.inputs:
            emit((node.op, node.attrs._items, node.type,
                  tuple([index[n.uid] for n in node.inputs]), x_at.get(node.uid, -1),
                  through is None or through(node)))
        else:  # a leaf's value never matters: VJP rules read structure only
            emit((node.op, node.type, x_at.get(node.uid, -1)))
    roots = (tuple([index[y.uid] for y in ys]), tuple([index[d.uid] for d in dys]), len(xs))
    return (tuple(entries), roots), order


class _NotReplayable(Exception):
    """The rules referenced a computed node that is neither forward nor built by them."""


def _record(order: list[Node], built: list[Node], grads: list[Node | None]) -> tuple:
    where = {n.uid: i for i, n in enumerate(order)}
    steps: list[tuple] = []

    def ref(node: Node) -> int:
        r = where.get(node.uid)
        if r is None:
            if node.inputs:
                raise _NotReplayable(node.op)
            steps.append((_LEAF, node))  # a leaf the rules made (a constant): reused
            r = where[node.uid] = -len(steps)
        return r

    for node in built:
        if node.uid in where:
            continue
        if not node.inputs:
            ref(node)
            continue
        refs = tuple([ref(i) for i in node.inputs])
        steps.append((node.op, node.attrs, node.type, refs))
        where[node.uid] = -len(steps)
    outputs = tuple(None if g is None else ref(g) for g in grads)
    return tuple(steps), outputs


def _replay(recipe: tuple, order: list[Node]) -> list[Node | None]:
    steps, outputs = recipe
    new: list[Node] = []
    push = new.append
    for step in steps:
        if step[0] is _LEAF:
            push(step[1])
        else:
            op, attrs, type, refs = step
            push(make_node(op, tuple([order[r] if r >= 0 else new[-1 - r] for r in refs]),
                           attrs, type))
    return [None if r is None else (order[r] if r >= 0 else new[-1 - r]) for r in outputs]


def vjp(ys: Sequence[Node], dys: Sequence[Node], xs: Sequence[Node],
        through: Callable[[Node], bool] | None = None) -> list[Node | None]:
    """``vjp_graph(ys, dys, xs, through)``, replayed from a recipe when the forward
    structure has been differentiated before."""
    from .autodiff import vjp_graph

    keyed = _forward_key(ys, dys, xs, through)
    if keyed is None:
        return vjp_graph(ys, dys, xs, through)
    key, order = keyed
    recipe = _recipes.get(key)
    if recipe is not None:
        _recipes.move_to_end(key)
        stats["replayed"] += 1
        return _replay(recipe, order)
    built: list[Node] = []
    hooks = _node_module.build_hooks
    hooks.append(built.append)
    try:
        grads = vjp_graph(ys, dys, xs, through)
    finally:
        hooks.remove(built.append)
    try:
        _recipes[key] = _record(order, built, grads)
    except _NotReplayable:
        return grads
    stats["recorded"] += 1
    while len(_recipes) > MAX_RECIPES:
        _recipes.popitem(last=False)
    return grads


def clear() -> None:
    """Forget every recipe (the next backward of each structure runs the VJP rules)."""
    _recipes.clear()
