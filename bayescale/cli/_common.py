"""Helpers shared by the subcommands: data resolution, progress messages, CSV output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayescale.constants import DEFAULT_CI_PROB

if TYPE_CHECKING:
    import pandas as pd


def say(message: str, *, quiet: bool = False) -> None:
    """Print a progress line on stderr (standard output stays machine-readable)."""
    if not quiet:
        print(f"bayescale: {message}", file=sys.stderr, flush=True)


def load_runs(data: str, *, group: str | None = None) -> pd.DataFrame:
    """Resolve ``--data``: an existing file is read as a run table, anything else is a dataset."""
    from bayescale.data.registry import load_dataset
    from bayescale.data.schema import read_runs

    path = Path(data)
    if path.exists() or path.suffix.lower() in {".csv", ".parquet", ".gz"}:
        return read_runs(path, group=group)
    return load_dataset(data)


def write_csv(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write a CSV atomically (temporary file in the same folder, then rename)."""
    from bayescale._atomic import atomic_path

    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(out)


def add_quiet(parser: Any) -> None:
    """Add the ``--quiet`` flag."""
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def add_ci(parser: Any) -> None:
    """Add ``--ci``, the interval mass (default :data:`~bayescale.constants.DEFAULT_CI_PROB`)."""
    parser.add_argument(
        "--ci",
        type=float,
        default=DEFAULT_CI_PROB,
        help=f"interval mass (default {DEFAULT_CI_PROB:g})",
    )


def add_budget_variant_args(parser: Any) -> None:
    """Add ``--inference-tokens`` and ``--unique-tokens`` (allocate and decide)."""
    parser.add_argument(
        "--inference-tokens",
        type=float,
        default=0.0,
        help="tokens to serve; the budget pays 2·N per served token (Sardana et al.)",
    )
    parser.add_argument(
        "--unique-tokens",
        type=float,
        default=None,
        help="cap on unique training tokens (Muennighoff et al. effective data)",
    )
