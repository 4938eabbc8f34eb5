"""``graphc bench TARGET``: the command line of :func:`graphc.bench.benchmark`.

Exit status: 0 when every system that is installed and provided agreed with graphc and
was timed; 1 when one disagreed or failed (the results are still printed and written);
2 for a usage error (an unknown target, a missing file, a file without
``graphc_case``, an unreadable ``--compare`` file).

>>> parser = argparse.ArgumentParser(); register(parser.add_subparsers())
>>> args = parser.parse_args(["bench", "softmax", "--quick", "--systems", "graphc,numpy"])
>>> args.target, args.quick, args.systems
('softmax', True, 'graphc,numpy')
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

EPILOG = """\
targets: elementwise, reduction, softmax, layernorm, attention, mlp-train, lenet-train,
resnet18-train, shufflenet-train, bert-train, all, or path/to/file.py exporting
graphc_case() and optionally torch_case(), jax_case(), numpy_case() (docs/benchmarking.md).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command to the ``graphc`` parser."""
    from .case import SYSTEMS

    bench = subparsers.add_parser(
        "bench", help="benchmark graphc against NumPy, PyTorch, torch.compile and JAX",
        description="Measure a built-in suite or your own model: cold and warm start,\n"
                    "steady-state time per call in interleaved rounds, memory, graphc's\n"
                    "kernels, against the other systems installed (results checked equal\n"
                    "first).", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("target", help="a suite, all, or path/to/file.py")
    bench.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    bench.add_argument("--quick", action="store_true",
                       help="small sizes, 3 rounds, graphc's cold start alone, no "
                            "torch.compile unless --systems names it (all: 3-4 minutes)")
    bench.add_argument("--systems", default=None,
                       help=f"comma-separated (default: {','.join(SYSTEMS)}; with --quick "
                            f"all but torch.compile)")
    bench.add_argument("--threads", type=int, default=None,
                       help="threads for every system (default: the CPUs available)")
    bench.add_argument("--rounds", type=int, default=None,
                       help="interleaved rounds (default 7, 3 with --quick)")
    bench.add_argument("--profile", action="store_true",
                       help="time graphc's Program steps: top kernels and library calls")
    bench.add_argument("--json", metavar="PATH", help="write the full result (every raw "
                                                      "timing) as JSON")
    bench.add_argument("--markdown", metavar="PATH", help="write Markdown tables ('-': print)")
    bench.add_argument("--plot", metavar="OUT.png", help="write charts OUT.png and "
                                                         "OUT-start.png (matplotlib)")
    bench.add_argument("--compare", metavar="OLD.json",
                       help="flag changes from an earlier --json result beyond the noise")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.set_defaults(handler=main)


def _write_text(path: str, text: str) -> None:
    from graphc.fileio import atomic_write

    atomic_write(path, text.encode(), durable=False)


def read_result(path: str) -> dict[str, Any]:
    """An earlier ``--json`` result (checked to be one)."""
    with open(path, encoding="utf-8") as f:
        try:
            result = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"graphc bench: {path} is not JSON: {err}") from None
    if not isinstance(result, dict) or result.get("schema") != "graphc-bench/1":
        raise ValueError(f"graphc bench: {path} is not a graphc bench result (its "
                         f"'schema' is not 'graphc-bench/1')")
    return result


def main(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table and write what was asked."""
    from .api import benchmark
    from .report import compare, compare_text, markdown, table

    old = read_result(args.compare) if args.compare else None
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise ValueError("graphc bench: --plot needs matplotlib (pip install "
                         "'graphc[bench]')")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"graphc bench: --threads {args.threads}; expected 1 or more")
    systems = (None if args.systems is None else
               [s.strip() for s in args.systems.split(",") if s.strip()])
    result = benchmark(args.target, systems=systems, device=args.device, quick=args.quick,
                       profile=args.profile, threads=args.threads, rounds=args.rounds,
                       progress=not args.no_progress and sys.stderr.isatty())
    print(table(result))
    if args.json:
        _write_text(args.json, json.dumps(result, indent=1))
    if args.markdown == "-":
        print(markdown(result))
    elif args.markdown:
        _write_text(args.markdown, markdown(result) + "\n")
    if args.plot:
        from .plot import plot

        print("charts: " + ", ".join(plot(result, args.plot)))
    if old is not None:
        print(compare_text(compare(old, result)))
    bad = [(c["name"], s) for c in result["cases"] for s, r in c["systems"].items()
           if r["status"] in ("disagrees", "failed")]
    if bad:
        print("graphc bench: " + ", ".join(f"{s} {c}" for c, s in bad)
              + ": disagreed or failed (see the table)", file=sys.stderr)
        return 1
    return 0

