"""Render docs/megengine.md from docs/megengine_api.toml (MegEngine's public API and
graphc's status for each name).

    .venv/bin/python scripts/render_megengine_md.py          # rewrite the page
    .venv/bin/python scripts/render_megengine_md.py --check  # exit 1 if it is stale

tests/test_megengine_api.py checks that the page is what this script renders.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "megengine_api.toml"
PAGE = ROOT / "docs" / "megengine.md"
MARKS = ("✓", "~", "✗")


def load_data(path: Path = DATA) -> dict[str, Any]:
    """The TOML data: ``page`` (title and texts) and one table per MegEngine package."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def parse_status(value: str) -> tuple[str, str]:
    """``"~ how"`` → ``("~", "how")``; raises ValueError on a status of another form."""
    mark, note = value[:1], value[1:].strip()
    if mark not in MARKS or (mark == "✓") != (note == ""):
        raise ValueError(f"status {value!r}: expected '✓', '~ <difference>' or "
                         f"'✗ <reason or issue>'")
    return mark, note


def sections(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The package tables, in file order."""
    return [(key, table) for key, table in data.items() if key != "page"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(data: dict[str, Any]) -> str:
    """The Markdown page for ``data``."""
    page = data["page"]
    lines = [f"# {page['title']}", "",
             "<!-- Rendered from docs/megengine_api.toml by scripts/render_megengine_md.py:"
             " edit the data, not this page. -->", "",
             page["intro"].strip(), "", "## Where graphc differs on purpose", "",
             page["differences"].strip(), "", "## Summary", "",
             "| MegEngine | graphc | ✓ | ~ | ✗ |", "| --- | --- | --- | --- | --- |"]
    totals = dict.fromkeys(MARKS, 0)
    for _, table in sections(data):
        counts = dict.fromkeys(MARKS, 0)
        for value in table["names"].values():
            counts[parse_status(value)[0]] += 1
        for mark in MARKS:
            totals[mark] += counts[mark]
        lines.append(f"| [`{table['megengine']}`](#{table['megengine'].replace('.', '')}) "
                     f"| `{table['graphc']}` | " + " | ".join(str(counts[m]) for m in MARKS)
                     + " |")
    lines.append("| all | | " + " | ".join(str(totals[m]) for m in MARKS) + " |")
    for _, table in sections(data):
        lines += ["", f"## {table['megengine']}", "", table["about"].strip(), "",
                  f"In graphc: `{table['graphc']}`.", ""]
        parsed = [(name, *parse_status(value)) for name, value in table["names"].items()]
        same = [name for name, mark, _ in parsed if mark == "✓"]
        if same:
            lines += [f"✓ as in MegEngine ({len(same)}): "
                      + ", ".join(f"`{name}`" for name in same) + ".", ""]
        rest = [(name, mark, note) for name, mark, note in parsed if mark != "✓"]
        if rest:
            lines += ["| name | | difference, or why missing |", "| --- | --- | --- |"]
            lines += [f"| `{name}` | {mark} | {_cell(note)} |" for name, mark, note in rest]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render(load_data())
    if "--check" in argv:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is stale: run scripts/render_megengine_md.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
