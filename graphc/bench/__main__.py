"""``python -m graphc.bench ARGS`` = ``graphc bench ARGS`` (``make bench``: ``all``)."""

import sys

from graphc.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
