"""``python -m graphc.bench ARGS`` = ``graphc bench ARGS`` (``make bench``: ``all``).

The process becomes ``python -m graphc.cli bench ARGS`` (bench sits beside the command
line in docs/architecture.md's layers and does not import it).
"""

import os
import sys

os.execv(sys.executable, [sys.executable, "-m", "graphc.cli", "bench", *sys.argv[1:]])
