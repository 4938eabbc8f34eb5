"""Graph visualisation export (DOT, SVG, PNG, JSON, HTML). Being written: issue 7."""
