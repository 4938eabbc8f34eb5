"""Run Graphviz's ``dot`` program: DOT text → SVG or PNG bytes.

``dot`` is found on ``PATH`` (or ``GRAPHC_DOT``). Where it is missing,
:class:`GraphvizNotFoundError` says how to install it; DOT and JSON export never need it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

INSTALL_HINT = (
    "Install Graphviz: `make deps` in a graphc checkout, `sudo apt-get install graphviz` "
    "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install graphviz`; or set "
    "GRAPHC_DOT to the dot program. Export to .dot or .json works without it.")

RENDER_TIMEOUT_S = 300


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is needed (SVG, PNG, HTML export) and is not installed."""


def find_dot(purpose: str = "rendering") -> str:
    """The path of Graphviz's ``dot``; raises :class:`GraphvizNotFoundError` without it.

    >>> import os
    >>> os.path.basename(find_dot())
    'dot'
    """
    override = os.environ.get("GRAPHC_DOT")
    path = override if override and os.access(override, os.X_OK) else shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError(
            f"graphc.viz: {purpose} needs Graphviz's `dot` program, which is not on PATH. "
            + INSTALL_HINT)
    return path


def render(dot_text: str, fmt: str, dpi: int | None = None) -> bytes:
    """Render DOT text with ``dot -T<fmt>`` (``svg`` or ``png``, or any format dot knows).

    >>> render('digraph { a -> b }', "svg").startswith(b"<?xml")
    True
    """
    dot = find_dot(f"writing {fmt.upper()}")
    cmd = [dot, f"-T{fmt}"] + ([f"-Gdpi={dpi}"] if dpi else [])
    try:
        done = subprocess.run(cmd, input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"graphc.viz: `{' '.join(cmd)}` took over {RENDER_TIMEOUT_S} s; "
                           "try group_by='module' or an earlier stage") from exc
    if done.returncode != 0:
        raise RuntimeError(f"graphc.viz: `{' '.join(cmd)}` failed (exit {done.returncode}): "
                           f"{done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout
