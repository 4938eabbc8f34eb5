"""``group_by="module"``: collapse the nodes of each module scope into one node.

Large graphs stay readable when the op nodes built inside one module (``fc1``,
``layer2.conv1``, ...) are drawn as one box. Collapsing happens within a cluster (a
kernel in the fused stage, a phase in the backward stage), so clusters stay exact; leaves
(inputs, parameters, constants) and nodes built outside any module stay as they are.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx


def group_by_module(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy of ``g`` with each (module scope, cluster)'s op nodes merged into one node.

    A group node has ``role="module"``, ``op="module"``, the scope, its ``members`` (the
    node ids it stands for) and their ``ops``; parallel edges between groups merge into
    one edge with a ``count``.

    >>> import graphc, graphc.module as M
    >>> from graphc.viz import stage_graph
    >>> fc = M.Linear(3, 2); fc._scope = "fc"
    >>> g = stage_graph(fc(graphc.tensor([[1., 2., 3.]])), "backward", group_by="module")
    >>> [d["label"] for _, d in g.nodes(data=True) if d["role"] == "module"]
    ['fc\\n4 ops']
    """
    group_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for nid, d in g.nodes(data=True):
        if d["role"] == "op" and d["scope"]:
            gid = f"module:{d['cluster']}:{d['scope']}" if d["cluster"] else f"module:{d['scope']}"
            group_of[nid] = gid
            members.setdefault(gid, []).append(nid)
    out = nx.MultiDiGraph(**dict(g.graph, group_by="module"))
    for nid, d in g.nodes(data=True):
        gid = group_of.get(nid)
        if gid is None:
            out.add_node(nid, **d)
        elif gid not in out:
            out.add_node(gid, **_group_data(g, gid, members[gid]))
    counts: Counter = Counter()
    for u, v, k, d in g.edges(keys=True, data=True):
        if u not in group_of and v not in group_of:
            out.add_edge(u, v, key=k, **d)
            continue
        gu, gv = group_of.get(u, u), group_of.get(v, v)
        if gu != gv:
            counts[(gu, gv)] += 1
    for (gu, gv), count in counts.items():
        out.add_edge(gu, gv, key=0, arg=None, count=count)
    out.graph["outputs"] = list(dict.fromkeys(group_of.get(o, o) for o in g.graph["outputs"]))
    return out


def _group_data(g: nx.MultiDiGraph, gid: str, ids: list[str]) -> dict:
    datas = [g.nodes[i] for i in ids]
    first, last = datas[0], datas[-1]
    ops = [d["op"] for d in datas]
    phase = Counter(d["phase"] for d in datas).most_common(1)[0][0]
    n = len(ids)
    type_text = f"{last['dtype']}{last['shape']}"
    return {
        "uid": None, "op": "module", "role": "module", "output": any(d["output"] for d in datas),
        "shape": last["shape"], "dtype": last["dtype"], "device": last["device"], "attrs": {},
        "location": first["location"], "source": first["source"], "scope": first["scope"],
        "phase": phase, "name": first["scope"], "cluster": first["cluster"],
        "kernel": first.get("kernel"), "members": ids, "ops": ops,
        "label": f"{first['scope']}\n{n} op{'s' if n != 1 else ''}",
        "tooltip": f"module {first['scope']}: {' '.join(ops)}\nlast value {type_text}",
    }
