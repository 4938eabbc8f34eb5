"""The HTML page: self-contained, and in headless Chromium it renders, searches, pans,
zooms and shows a node's details when clicked."""

from __future__ import annotations

import io
import json
import re

import networkx as nx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from graphc.viz import export, stage_graph, to_dot, to_html
from graphc.viz.render import render


@pytest.fixture
def page(step, tmp_path):
    """The fused stage of the MLP step as a page, with its graph (the same nodes: the
    fused stage's nodes are rebuilt, with new ids, each time it is computed)."""
    g = stage_graph([step.loss, *step.grads], stage="fused", names=step.model)
    path = tmp_path / "step.html"
    path.write_text(to_html(g, render(to_dot(g), "svg").decode()))
    return path, g, step


def test_export_writes_the_page(step, tmp_path):
    path = export([step.loss, *step.grads], tmp_path / "step.html", stage="fused")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    g = stage_graph([step.loss, *step.grads], "fused")
    assert text.count('class="node"') == g.number_of_nodes()
    assert text.count('class="cluster"') == len(g.graph["clusters"])


def test_page_is_self_contained(page):
    path, g, _ = page
    text = path.read_text()
    assert not re.search(r"""\b(src|href)\s*=|@import|url\(|<link\b|<!DOCTYPE svg""", text)
    data = json.loads(re.search(r'<script type="application/json" id="graphc-data">(.*?)'
                                r"</script>", text, re.S).group(1))
    assert set(data["nodes"]) == set(g) and data["clusters"] == g.graph["clusters"]
    assert text.count('class="node"') == g.number_of_nodes()


def test_page_escapes_script_endings():
    g = nx.MultiDiGraph(name="</script><b>x</b>", stage="built", clusters={}, outputs=[])
    page = to_html(g, "<svg></svg>")
    assert page.count("</script>") == 2 and "<b>x</b>" not in page


def _not_blank(png: bytes) -> tuple[int, float]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20) or []
    pixels = image.width * image.height
    white = sum(count for count, rgb in colors if min(rgb) >= 250)
    return len(colors), 1 - white / pixels


@pytest.mark.browser
def test_page_renders_and_clicking_a_node_shows_its_details(page, browser):
    path, g, _ = page
    browser.get(path.as_uri())
    nodes = browser.find_elements(By.CSS_SELECTOR, "#canvas svg g.node")
    assert len(nodes) == g.number_of_nodes()
    n_colors, inked = _not_blank(browser.get_screenshot_as_png())
    assert n_colors > 20 and inked > 0.05, (n_colors, inked)

    details = browser.find_element(By.ID, "details")
    loss = g.graph["outputs"][0]  # the loss: an output inside a loop kernel
    browser.find_element(By.CSS_SELECTOR, f'g.node[id="{loss}"] text').click()
    text = details.text
    assert g.nodes[loss]["op"] in text.splitlines()[0] and "output" in text
    assert f"built at {g.nodes[loss]['location']}" in text
    assert "loss = F.cross_entropy(model(x), y)" in text
    kernel = g.nodes[loss]["kernel"]
    assert f"kernel {kernel} [loop]" in text and "generated source" in text
    source = details.find_element(By.CLASS_NAME, "kernel-source").text
    assert source.splitlines()[0] == g.graph["clusters"][kernel]["source"].splitlines()[0]
    assert "selected" in browser.find_element(By.ID, loss).get_attribute("class")

    weight = next(n for n, d in g.nodes(data=True) if d["name"] == "0.weight")
    browser.find_element(By.CSS_SELECTOR, f'g.node[id="{weight}"] text').click()
    assert details.text.startswith("0.weight · buffer") and "role parameter" in details.text

    name, info = next((k, c) for k, c in g.graph["clusters"].items()
                      if c["kernel_kind"] == "library")
    browser.find_element(By.CSS_SELECTOR, f'g.cluster[id="cluster_{name}"] text').click()
    assert details.text.startswith(info["label"]) and info["source"] in details.text

    search = browser.find_element(By.ID, "search")
    search.send_keys("matmul")
    want = sum(d["op"] == "matmul" for _, d in g.nodes(data=True))
    assert browser.find_element(By.ID, "matches").text == f"{want} matches"
    assert len(browser.find_elements(By.CSS_SELECTOR, "g.node.match")) == want
    search.send_keys(Keys.ENTER)
    assert details.text.startswith("matmul")
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.browser
def test_pan_and_zoom_change_the_view(page, browser):
    path, _, _ = page
    browser.get(path.as_uri())
    svg = browser.find_element(By.CSS_SELECTOR, "#canvas svg")

    def view() -> list[float]:
        return [float(v) for v in svg.get_dom_attribute("viewBox").split()]

    home = view()
    browser.find_element(By.ID, "zoom-in").click()
    zoomed = view()
    assert zoomed[2] == pytest.approx(home[2] / 1.25, rel=1e-3)
    ActionChains(browser).move_to_element(svg).click_and_hold().move_by_offset(120, 40) \
        .release().perform()
    panned = view()
    assert panned[0] < zoomed[0] and panned[1] < zoomed[1] and panned[2] == zoomed[2]
    browser.find_element(By.ID, "fit").click()
    assert view() == pytest.approx(home)
