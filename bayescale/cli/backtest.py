"""``bayescale backtest``: fit below compute cuts and score the bands of the larger runs."""

from __future__ import annotations

import argparse
from typing import Any

from bayescale.cli._common import add_quiet, load_runs, say, write_csv


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` subcommand."""
    p = sub.add_parser(
        "backtest",
        help="fit below compute cuts; score the predictive bands of the held-out larger runs",
        description=(
            "Fit the spec on the runs at or below each cut of --on and score every larger run: "
            "coverage of the 50%% and 90%% bands, interval score, relative error and band width "
            "per extrapolation factor. Writes one row per (cut, held-out run) to --out and "
            "prints the summary."
        ),
    )
    p.add_argument("--data", required=True, help="registered dataset name or a CSV/parquet file")
    p.add_argument("--spec", default="chinchilla", help="bundled spec name or a spec TOML file")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="keep only rows whose column equals the value (repeatable), e.g. config=rw-...",
    )
    p.add_argument("--on", default="flops", help="column of the cut (default flops)")
    p.add_argument(
        "--factors",
        type=float,
        nargs="+",
        default=[3.0, 10.0, 30.0],
        help="target extrapolation factors (default 3 10 30)",
    )
    p.add_argument("--cuts", type=float, nargs="+", help="explicit cuts instead of --factors")
    p.add_argument("--draws", type=int, help="draws per chain (spec default)")
    p.add_argument("--tune", type=int, help="tuning steps per chain (spec default)")
    p.add_argument("--chains", type=int, help="chains (spec default)")
    p.add_argument("--seed", type=int, default=1, help="seed of fits and draws (default 1)")
    p.add_argument("--cache", help="folder of cached fits (a rerun only scores)")
    p.add_argument("--summary", help="also write the summary table to this CSV")
    p.add_argument("--plot", help="write the calibration plot (PNG) here")
    p.add_argument("--out", required=True, help="output CSV, one row per scored run and cut")
    add_quiet(p)
    p.set_defaults(func=run)


def _filter(runs: Any, where: list[str]) -> Any:
    from bayescale.exceptions import BayescaleError

    for item in where:
        col, sep, value = item.partition("=")
        if not sep or not col:
            raise BayescaleError(f"--where {item!r}: expected COL=VALUE")
        if col not in runs.columns:
            raise BayescaleError(f"--where {item!r}: the table has no column {col!r}")
        attrs = dict(runs.attrs)
        runs = runs.loc[runs[col].astype(str) == value].copy()
        runs.attrs = attrs
        if runs.empty:
            raise BayescaleError(f"--where {item!r}: no row matches")
    return runs


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale backtest``."""
    from bayescale.analysis.backtest import backtest, calibration, summarize_backtest
    from bayescale.exceptions import BayescaleError

    for name in ("draws", "tune", "chains"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BayescaleError(f"--{name} must be at least 1, got {value}")
    if any(not f > 1 for f in args.factors):
        raise BayescaleError("--factors must each exceed 1")
    runs = _filter(load_runs(args.data), args.where)
    label = args.data if not args.where else f"{args.data}[{','.join(args.where)}]"
    rows = backtest(
        runs,
        spec=args.spec,
        table=label,
        on=args.on,
        factors=args.factors,
        cuts=args.cuts,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        random_seed=args.seed,
        cache_dir=args.cache,
        progress=lambda line: say(line, quiet=args.quiet),
    )
    write_csv(rows, args.out)
    summary = summarize_backtest(rows)
    if args.summary:
        write_csv(summary, args.summary)
    if args.plot:
        from bayescale.plots import plot_calibration

        ax = plot_calibration(calibration(rows))
        from bayescale._atomic import atomic_path

        with atomic_path(args.plot) as tmp:
            ax.figure.savefig(tmp, format="png", dpi=120)
    cols = ["factor_bin", "n", "coverage_50", "coverage_90", "interval_score_90"]
    cols += ["median_abs_rel_error", "mean_width_90"]
    print(summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    say(f"wrote {len(rows)} rows to {args.out}", quiet=args.quiet)
    return 0
