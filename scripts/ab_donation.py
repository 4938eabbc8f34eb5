"""A/B: the lazy MLP training step with in-place state updates (donation) and without.

Both models share one compiled Program; "copy" runs it with every donation refused, so
each new weight goes to a fresh buffer. Interleaved rounds, median of same-round ratios.

    python scripts/ab_donation.py [batch]        (default 128)
"""

from __future__ import annotations

import sys

import graphc.runtime.compiler as compiler
from graphc.bench import training
from graphc.bench.harness import interleaved_rounds


def main(batch: int) -> None:
    x, y = training.data(batch, (784,))
    donating = training.graphc_step(training.mlp(), x, y)
    copying_step = training.graphc_step(training.mlp(), x, y)
    real = compiler.donations

    def copying() -> None:
        compiler.donations = lambda *args: []
        try:
            copying_step()
        finally:
            compiler.donations = real

    for _ in range(3):
        donating()
        copying()
    r = interleaved_rounds({"in place": donating, "copy": copying}, rounds=15, repeat=10)
    print(f"batch {batch}: in place {r.median('in place') * 1e3:.2f} ms, copy "
          f"{r.median('copy') * 1e3:.2f} ms, in place / copy {r.ratio('in place', 'copy'):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 128)
