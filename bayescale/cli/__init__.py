"""The ``bayescale`` command line: a thin shell over the public functions.

Each subcommand lives in its own module ``bayescale.cli.<name>`` with a ``register(subparsers)``
function; handlers import heavy libraries (PyMC, torch) only when they run, so
``bayescale --help`` stays fast. Every user error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bayescale._version import __version__

__all__ = ["main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "bayescale.cli.demo",
    "bayescale.cli.datasets",
    "bayescale.cli.fit",
    "bayescale.cli.summary",
    "bayescale.cli.predict",
    "bayescale.cli.allocate",
    "bayescale.cli.decide",
    "bayescale.cli.compare",
    "bayescale.cli.backtest",
    "bayescale.cli.report",
    "bayescale.runner.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available subcommand."""
    from bayescale.cli._common import Parser

    parser = Parser(
        prog="bayescale",
        description="Bayesian inference of neural scaling laws (Kaplan, Chinchilla).",
    )
    parser.add_argument("--version", action="version", version=f"bayescale {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # subcommand not part of this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    from bayescale.cli._common import check_outputs
    from bayescale.exceptions import BayescaleError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (one line, exit 2)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        check_outputs(args)  # before any work: a bad --out must not cost a whole run
        code = args.func(args)
    except BayescaleError as exc:
        print(f"bayescale: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"bayescale: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bayescale: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
