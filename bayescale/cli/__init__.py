"""The ``bayescale`` command line: a thin shell over the public functions.

Each subcommand lives in its own module ``bayescale.cli.<name>`` with a ``register(subparsers)``
function; handlers import heavy libraries (PyMC, torch) only when they run, so
``bayescale --help`` stays fast. Every user error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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
    "bayescale.cli.plan",
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` and temporary-file cleanup runs."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while the command runs (main thread only)."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        with _sigterm_raises():
            check_outputs(args)  # before any work: a bad --out must not cost a whole run
            code = args.func(args)
    except BayescaleError as exc:
        print(f"bayescale: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"bayescale: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 2
    except Terminated:
        print("bayescale: terminated; no partial output was left", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("bayescale: interrupted; no partial output was left", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
