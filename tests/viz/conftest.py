"""Fixtures for graphc.viz tests: a small MLP training step, IR counts, a browser.

Browser tests are marked ``browser``. They never skip: `make deps` installs Debian's
chromium and chromium-driver, so a missing browser is a failure that says so.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
import graphc.viz as viz
from graphc.autodiff import GradManager
from graphc.ir import Node, is_frontier, topo_order

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-quic", "--window-size=1280,800")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium through selenium")


def ir_counts(outputs: list[Node]) -> tuple[int, int]:
    """Nodes and input uses (edges) of the graph below ``outputs``, from the IR itself."""
    nodes = topo_order(outputs)
    return len(nodes), sum(len(n.inputs) for n in nodes if not is_frontier(n))


@dataclass
class Step:
    """An MLP training step: the model, the tensors before ``opt.step()`` and, once
    stepped, the capture of the realization ``opt.step()`` ran."""

    model: M.Module
    opt: optim.SGD
    loss: graphc.Tensor
    grads: list[graphc.Tensor]
    captured: viz.capture | None = None


def mlp_parts() -> tuple[M.Module, GradManager, optim.SGD]:
    """A 4 → 8 → 3 MLP, a GradManager attached to it and SGD with momentum."""
    model = M.Sequential(M.Linear(4, 8), M.ReLU(), M.Linear(8, 3))
    return (model, GradManager().attach(model.parameters()),
            optim.SGD(model.parameters(), lr=0.1, momentum=0.9))


def make_step() -> Step:
    """The MLP's training step with cross entropy; not yet stepped."""
    model, gm, opt = mlp_parts()
    x = graphc.tensor(np.random.default_rng(0).random((5, 4), dtype=np.float32))
    y = graphc.tensor(np.array([0, 1, 2, 0, 1], np.int32))
    with gm:
        loss = F.cross_entropy(model(x), y)
        gm.backward(loss)
    return Step(model, opt, loss, [p.grad for p in model.parameters()])


@pytest.fixture
def step() -> Step:
    """A training step whose loss and gradients are still pending."""
    return make_step()


@pytest.fixture
def stepped() -> Step:
    """A training step realized by ``opt.step()`` inside ``viz.capture``."""
    s = make_step()
    with viz.capture("MLP training step", names=s.model) as captured:
        s.opt.step()
    s.captured = captured
    return s


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium (Debian's package) driven by selenium, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    if chromium is None or not shutil.which("chromedriver"):
        pytest.fail("Chromium or chromedriver is missing: run `make deps` (apt packages "
                    "chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}")
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or CHROMEDRIVER),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()
