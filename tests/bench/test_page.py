"""docs/performance.md's generator (graphc/bench/page.py): it replaces only the part
between its markers, so the hand-written sections (issue 19's first-step figures among
them) stay byte for byte, and its paragraphs say what the result's ratios say."""

from __future__ import annotations

from pathlib import Path

from graphc.bench import page

PAGE = Path(__file__).resolve().parents[2] / "docs" / "performance.md"


def test_only_the_generated_part_is_replaced():
    text = PAGE.read_text()
    before, after = text.split(page.BEGIN)[0], text.split(page.END)[1]
    assert "## Time to first step (issue 19)" in after
    new = page.rewrite(text, page.BEGIN + "\nGENERATED\n" + page.END)
    assert new.startswith(before) and new.endswith(after)
    assert "GENERATED" in new and new.count(page.BEGIN) == 1
    assert page.rewrite(new, page.BEGIN + "\nGENERATED\n" + page.END) == new


def test_a_page_without_markers_gets_them_before_its_first_section():
    new = page.rewrite("# Title\n\nintro\n\n## Old\n\nold text\n", "<generated>")
    assert new == "# Title\n\nintro\n\n<generated>\n\n## Old\n\nold text\n"


def test_the_paragraph_names_wins_losses_and_where_the_time_goes():
    case = {"name": "c", "label": "c", "systems": {
        "graphc": {"status": "ok", "steady": {"median": 0.010}, "time_vs_graphc": 1.0,
                   "graphc": {"kernels": 12, "planned_bytes": 3 << 20, "programs": 1},
                   "cold": {"first_result_seconds": 9.0},
                   "warm": {"first_result_seconds": 2.0}},
        "numpy": {"status": "ok", "time_vs_graphc": 3.0},
        "torch": {"status": "ok", "time_vs_graphc": 0.5, "warm": {"first_result_seconds": 1.5}},
        "jax": {"status": "ok", "time_vs_graphc": 1.02},
        "torch.compile": {"status": "disagrees", "check": "max |diff| 0.1"}},
        "profile": [{"name": "loop conv", "share": 0.6, "seconds": 0.006, "calls": 1},
                    {"name": "graphc Python (graph, key, dispatch)", "share": 0.3,
                     "seconds": 0.003, "calls": 1}]}
    text = page.paragraph(case)
    assert "faster than numpy (3.00x" in text and "slower than torch (0.50x" in text
    assert "about even with jax" in text
    assert "loop conv 60%" in text and "30% to graphc's own Python" in text
    assert "12 kernels with 3.0 MiB" in text
    assert "9.0 s, a warm one in 2.0 s (PyTorch eager: 1.5 s)" in text
    assert "Not timed: torch.compile disagrees (max |diff| 0.1)" in text
