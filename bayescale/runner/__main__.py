"""``python -m bayescale.runner run ...`` (also usable under ``torchrun -m``)."""

from __future__ import annotations

import sys

from bayescale.exceptions import BayescaleError
from bayescale.runner.cli import build_parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; user errors exit with code 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BayescaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
