"""A self-contained HTML page for a stage graph: the SVG with pan, zoom, search and a
detail panel. One file, no network at view time: styles, script and data are inline.

The page embeds the graph's node and cluster attributes as JSON; clicking a node shows
its op, type, attrs, the user's source line, its kernel and the kernel's generated
source; clicking a kernel cluster shows the kernel.
"""

from __future__ import annotations

import html
import json
import re

import networkx as nx

_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)  # XML declaration, DOCTYPE, comments


def to_html(g: nx.MultiDiGraph, svg: str) -> str:
    """The page for ``g`` around ``svg`` (Graphviz's rendering of ``to_dot(g)``).

    >>> import graphc
    >>> from graphc.viz import stage_graph
    >>> page = to_html(stage_graph(graphc.tensor([1.]) + 1, "built"), "<svg></svg>")
    >>> page.startswith("<!DOCTYPE html>"), "src=" in page or "href=" in page
    (True, False)
    """
    nodes = {}
    for nid, d in g.nodes(data=True):
        nodes[nid] = dict(d, id=nid, inputs=list(dict.fromkeys(g.predecessors(nid))),
                          users=list(dict.fromkeys(g.successors(nid))))
    data = {"graph": {k: v for k, v in g.graph.items() if k != "clusters"},
            "clusters": g.graph.get("clusters", {}), "nodes": nodes}
    # "<" escaped as \u003c: nothing in the data can close the <script> element.
    payload = json.dumps(data, ensure_ascii=False, default=str).replace("<", "\\u003c")
    title = f"{g.graph.get('name', 'graph')} · {g.graph.get('stage', '')}"
    counts = (f"{g.number_of_nodes()} nodes · {g.number_of_edges()} edges"
              + (f" · {len(data['clusters'])} clusters" if data["clusters"] else ""))
    return (_PAGE.replace("%TITLE%", html.escape(title))
            .replace("%COUNTS%", html.escape(counts))
            .replace("%SVG%", _PROLOG.sub("", svg, count=1))
            .replace("%DATA%", payload)
            .replace("%SCRIPT%", _SCRIPT))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>graphc · %TITLE%</title>
<style>
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; font: 13px/1.4 system-ui, sans-serif; color: #222; }
body { display: flex; flex-direction: column; }
header { display: flex; gap: 10px; align-items: center; padding: 6px 10px;
         border-bottom: 1px solid #ccc; background: #f7f7f9; }
header h1 { font-size: 15px; margin: 0 8px 0 0; }
header input { width: 260px; padding: 3px 6px; }
header button { padding: 2px 8px; }
#counts, #matches { color: #666; }
main { flex: 1; display: flex; min-height: 0; }
#canvas { flex: 1; overflow: hidden; cursor: grab; background: #fff; }
#canvas.dragging { cursor: grabbing; }
#canvas svg { width: 100%; height: 100%; display: block; }
#details { width: 400px; overflow: auto; border-left: 1px solid #ccc; padding: 8px 12px;
           background: #fcfcfd; }
#details h2 { font-size: 15px; margin: 4px 0 8px; }
#details h3 { font-size: 13px; margin: 12px 0 4px; }
#details table { border-collapse: collapse; width: 100%; }
#details td { border-bottom: 1px solid #eee; padding: 2px 4px; vertical-align: top; }
#details td:first-child { color: #666; width: 90px; }
#details pre { background: #f3f3f3; padding: 6px; overflow: auto; font-size: 11px; }
#details a { color: #1a5fb4; cursor: pointer; margin-right: 6px; }
g.node, g.cluster { cursor: pointer; }
g.node.match polygon, g.node.match path, g.node.match ellipse {
  stroke: #ff8f00; stroke-width: 4px; }
g.node.dim, g.edge.dim { opacity: 0.2; }
g.node.selected polygon, g.node.selected path, g.node.selected ellipse,
g.cluster.selected > polygon, g.cluster.selected > path { stroke: #aa00ff; stroke-width: 4px; }
</style></head>
<body>
<header>
  <h1>graphc · %TITLE%</h1>
  <input id="search" type="search" placeholder="search op, name, scope, file:line  (/)">
  <span id="matches"></span>
  <button id="zoom-in" title="zoom in">+</button>
  <button id="zoom-out" title="zoom out">&minus;</button>
  <button id="fit" title="fit the graph">fit</button>
  <span id="counts">%COUNTS%</span>
</header>
<main>
  <div id="canvas">%SVG%</div>
  <aside id="details"><h2>Details</h2>
    <p>Click a node or a kernel to see its attributes, the line that built it and the
    generated kernel source. Drag to pan, wheel to zoom, type to search.</p></aside>
</main>
<script type="application/json" id="graphc-data">%DATA%</script>
<script>%SCRIPT%</script>
</body></html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("graphc-data").textContent);
  const canvas = document.getElementById("canvas");
  const svg = canvas.querySelector("svg");
  const details = document.getElementById("details");
  if (!svg) { return; }
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const base = svg.viewBox.baseVal;
  const home = { x: base.x, y: base.y, w: base.width, h: base.height };
  let view = Object.assign({}, home);
  function show() { svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" ")); }
  function toSvg(cx, cy) {
    const p = svg.createSVGPoint(); p.x = cx; p.y = cy;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function zoom(factor, cx, cy) {
    const r = canvas.getBoundingClientRect();
    const p = toSvg(cx === undefined ? r.left + r.width / 2 : cx,
                    cy === undefined ? r.top + r.height / 2 : cy);
    view.x = p.x - (p.x - view.x) * factor; view.y = p.y - (p.y - view.y) * factor;
    view.w *= factor; view.h *= factor; show();
  }
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault(); zoom(Math.exp(e.deltaY * 0.0015), e.clientX, e.clientY);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("mousedown", function (e) {
    drag = { x: e.clientX, y: e.clientY, moved: false }; canvas.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (e) {
    if (!drag) { return; }
    const a = toSvg(drag.x, drag.y), b = toSvg(e.clientX, e.clientY);
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) { drag.moved = true; }
    view.x -= b.x - a.x; view.y -= b.y - a.y; drag.x = e.clientX; drag.y = e.clientY; show();
  });
  window.addEventListener("mouseup", function () {
    canvas.classList.remove("dragging");
    setTimeout(function () { drag = null; }, 0);
  });
  document.getElementById("zoom-in").onclick = function () { zoom(1 / 1.25); };
  document.getElementById("zoom-out").onclick = function () { zoom(1.25); };
  document.getElementById("fit").onclick = function () { view = Object.assign({}, home); show(); };

  const nodeEls = {};
  svg.querySelectorAll("g.node").forEach(function (g) { nodeEls[g.id] = g; });
  const clusterEls = {};
  svg.querySelectorAll("g.cluster").forEach(function (g) { clusterEls[g.id] = g; });

  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    Object.assign(e, attrs || {});
    return e;
  }
  function row(table, key, value) {
    if (value === undefined || value === null || value === "") { return; }
    const tr = el("tr"); tr.appendChild(el("td", key));
    const td = el("td"); td.appendChild(value instanceof Node ? value : el("span", value));
    tr.appendChild(td); table.appendChild(tr);
  }
  function links(ids) {
    const span = el("span");
    ids.forEach(function (id) {
      const n = data.nodes[id];
      const a = el("a", n ? (n.name || n.op) + " (" + id + ")" : id);
      a.onclick = function () { select(id, true); };
      span.appendChild(a);
    });
    return span;
  }
  function clearSelection() {
    svg.querySelectorAll(".selected").forEach(function (g) { g.classList.remove("selected"); });
  }
  function kernelSection(name) {
    const k = data.clusters[name];
    if (!k || k.kind !== "kernel") { return; }
    details.appendChild(el("h3", "kernel " + name + " [" + k.kernel_kind + "]"));
    const t = el("table"); details.appendChild(t);
    row(t, "ops", k.ops.length + ": " + k.ops.join(" "));
    row(t, "boundary", k.boundary);
    details.appendChild(el("h3", "generated source"));
    details.appendChild(el("pre", k.source, { className: "kernel-source" }));
  }
  function select(id, center) {
    const n = data.nodes[id];
    if (!n) { return; }
    clearSelection();
    if (nodeEls[id]) { nodeEls[id].classList.add("selected"); }
    details.textContent = "";
    details.appendChild(el("h2", (n.name ? n.name + " · " : "") + n.op));
    const t = el("table", null, { id: "node-table" }); details.appendChild(t);
    row(t, "id", id);
    row(t, "role", n.role + (n.output ? " · output" : ""));
    row(t, "type", n.dtype + "[" + (n.shape || []).join(", ") + "] @ " + n.device);
    row(t, "phase", n.phase);
    row(t, "scope", n.scope);
    row(t, "built at", n.location);
    row(t, "value", n.value);
    row(t, "kernel", n.kernel);
    row(t, "view", n.view ? "free view: read through its index map, never copied" : "");
    if (n.ops) { row(t, "ops", n.ops.length + ": " + n.ops.join(" ")); }
    row(t, "inputs", n.inputs.length ? links(n.inputs) : "");
    row(t, "users", n.users.length ? links(n.users) : "");
    if (n.source) {
      details.appendChild(el("h3", "source line"));
      details.appendChild(el("pre", n.location + ":  " + n.source, { className: "source-line" }));
    }
    if (n.attrs && Object.keys(n.attrs).length) {
      details.appendChild(el("h3", "attrs"));
      details.appendChild(el("pre", JSON.stringify(n.attrs, null, 1), { className: "attrs" }));
    }
    if (n.kernel) { kernelSection(n.kernel); }
    if (center && nodeEls[id]) {
      const b = nodeEls[id].getBBox(), ctm = nodeEls[id].getCTM(), root = svg.getCTM();
      const m = root.inverse().multiply(ctm);
      const cx = m.a * (b.x + b.width / 2) + m.e, cy = m.d * (b.y + b.height / 2) + m.f;
      const f = Math.min(1, 800 / view.w);  // close enough to read the labels
      view.w *= f; view.h *= f; view.x = cx - view.w / 2; view.y = cy - view.h / 2; show();
    }
  }
  function selectCluster(gid) {
    const name = gid.replace(/^cluster_/, "");
    const k = data.clusters[name];
    if (!k) { return; }
    clearSelection(); clusterEls[gid].classList.add("selected");
    details.textContent = "";
    details.appendChild(el("h2", k.label));
    const members = Object.keys(data.nodes).filter(function (id) {
      return data.nodes[id].cluster === name;
    });
    const t = el("table"); details.appendChild(t);
    row(t, "nodes", links(members));
    kernelSection(name);
  }
  svg.addEventListener("click", function (e) {
    if (drag && drag.moved) { return; }
    const g = e.target.closest("g.node, g.cluster");
    if (!g) { return; }
    if (g.classList.contains("node")) { select(g.id, false); } else { selectCluster(g.id); }
  });

  const search = document.getElementById("search");
  const matchInfo = document.getElementById("matches");
  let matches = [], current = -1;
  search.addEventListener("input", function () {
    const q = search.value.trim().toLowerCase();
    matches = []; current = -1;
    Object.keys(nodeEls).forEach(function (id) {
      const n = data.nodes[id] || {};
      const text = [id, n.op, n.name, n.scope, n.location, n.kernel, n.label].join(" ");
      const hit = q !== "" && text.toLowerCase().indexOf(q) >= 0;
      nodeEls[id].classList.toggle("match", hit);
      nodeEls[id].classList.toggle("dim", q !== "" && !hit);
      if (hit) { matches.push(id); }
    });
    svg.querySelectorAll("g.edge").forEach(function (g) { g.classList.toggle("dim", q !== ""); });
    matchInfo.textContent = q === "" ? "" : matches.length + " match" +
      (matches.length === 1 ? "" : "es");
  });
  search.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && matches.length) {
      current = (current + 1) % matches.length; select(matches[current], true);
    }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== search) { e.preventDefault(); search.focus(); }
  });
})();
"""
