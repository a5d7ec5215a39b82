"""``bayescale report``: one self-contained HTML page of a saved fit."""

from __future__ import annotations

import argparse
import time

from bayescale.cli._common import add_ci, add_out, add_quiet, positive, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="write a one-page HTML report of a fit (figures embedded)",
        description="Write one self-contained HTML file: posterior summary and diagnostics, "
        "allocations for standard budgets, comparison to published fits, figures and the "
        "provenance of data and fit.",
    )
    p.add_argument("fit", help="a fit file written by `bayescale fit`")
    add_out(p, "file", help="output HTML file")
    add_ci(p)
    p.add_argument(
        "--flops",
        type=positive,
        nargs="+",
        help="budgets of the allocation table (default 1e21 ... 1e25)",
    )
    p.add_argument(
        "--backtest",
        help="rows written by `bayescale backtest --out` (CSV): adds a back-test section "
        "(coverage, interval score, width per extrapolation factor; calibration curve)",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale report``."""
    import matplotlib

    matplotlib.use("Agg")

    from bayescale.modeling.fit import load_fit
    from bayescale.report import STANDARD_BUDGETS, write_report

    t0 = time.perf_counter()
    rows = None
    if args.backtest:
        from pathlib import Path

        from bayescale.cli.predict import read_points
        from bayescale.exceptions import BayescaleError

        if not Path(args.backtest).is_file():
            raise BayescaleError(f"--backtest {args.backtest}: no such file")
        rows = read_points(args.backtest)
    fit = load_fit(args.fit)
    say(f"drawing the report of {args.fit} ({fit!r})", quiet=args.quiet)
    path = write_report(
        fit,
        args.out,
        budgets=tuple(args.flops or STANDARD_BUDGETS),
        ci_prob=args.ci,
        backtest=rows,
    )
    say(f"wrote {path} in {time.perf_counter() - t0:.1f} s", quiet=args.quiet)
    return 0
