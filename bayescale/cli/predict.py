"""``bayescale predict``: posterior loss bands of a saved fit at new points."""

from __future__ import annotations

import argparse
from typing import Any

from bayescale.cli._common import (
    add_ci,
    add_quiet,
    add_seed,
    add_table_output,
    emit_table,
    labelled,
    positive,
    say,
    units_line,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    p = sub.add_parser(
        "predict",
        help="loss bands (median and equal-tailed interval) at new (N, D) points",
        description="Print (and with --out write) the input columns plus loss_median, "
        "loss_lower, loss_upper and the extrapolation distance extrap_N, extrap_D, extrap_C: "
        "decades beyond the range of the fitted runs (0 inside it).",
    )
    p.add_argument("fit", help="a fit file written by `bayescale fit`")
    p.add_argument(
        "--at", help="CSV of points holding the law's input columns (e.g. params, tokens)"
    )
    p.add_argument("--params", type=positive, nargs="+", help="parameter counts N")
    p.add_argument("--tokens", type=positive, nargs="+", help="training tokens D")
    p.add_argument("--flops", type=positive, nargs="+", help="compute C = 6·N·D (with N or D)")
    p.add_argument("--grid", action="store_true", help="cross the two given axes into a grid")
    p.add_argument(
        "--kind",
        choices=["mean", "noise", "predictive"],
        default="mean",
        help=(
            "mean: the law's expected loss; noise: a new run if the law were exact (adds the "
            "run-to-run noise); predictive: a new run, adding also the uncertainty about the "
            "law itself, which grows past the fitted range"
        ),
    )
    add_ci(p)
    add_group_args(p)
    add_seed(p, "seed of noise / new-group draws")
    add_table_output(p, what="the bands")
    add_quiet(p)
    p.set_defaults(func=run)


def add_group_args(p: argparse.ArgumentParser) -> None:
    """``--group G`` / ``--new-group`` for pooled fits."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--group", help="pooled fits: only this group (default: every group)")
    g.add_argument(
        "--new-group",
        action="store_true",
        help="pooled fits: an unseen group, drawn from the population",
    )


def group_value(args: argparse.Namespace) -> str | None:
    """The ``group=`` argument selected by ``--group`` / ``--new-group``."""
    from bayescale.analysis._common import NEW_GROUP

    return NEW_GROUP if getattr(args, "new_group", False) else args.group


def read_points(path: str) -> Any:
    """Read the ``--at`` CSV, with errors naming the file."""
    import pandas as pd

    from bayescale.exceptions import BayescaleError

    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BayescaleError(f"{path}: not a readable CSV ({exc})") from None
    if table.empty:
        raise BayescaleError(f"{path}: no rows")
    return table


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale predict``."""
    from bayescale.analysis._common import to_frame
    from bayescale.analysis.predict import predict
    from bayescale.exceptions import BayescaleError
    from bayescale.modeling.fit import load_fit

    axes = {"params": args.params, "tokens": args.tokens, "flops": args.flops}
    if args.at and any(v is not None for v in axes.values()):
        raise BayescaleError("give either --at FILE.csv or --params/--tokens/--flops, not both")
    if not args.at and all(v is None for v in axes.values()):
        raise BayescaleError("no points: give --at FILE.csv or --params and --tokens")
    fit = load_fit(args.fit)
    kwargs: dict[str, Any] = {"at": read_points(args.at)} if args.at else axes
    result = predict(
        fit,
        **kwargs,
        grid=args.grid,
        kind=args.kind,
        ci_prob=args.ci,
        group=group_value(args),
        random_seed=args.seed,
        keep_draws=False,
    )
    if result.attrs.get("new_groups"):
        say(
            f"note: {fit.info.group} value(s) {result.attrs['new_groups']} are not in the fit; "
            "those rows get the new-group prediction (drawn from the population)"
        )
    table = to_frame(result)
    table = labelled(fit, table)
    emit_table(
        table,
        out=args.out,
        as_json=args.json,
        title=f"# {args.kind} loss band, {args.ci:.0%} equal-tailed interval; "
        f"{units_line(fit.tree.attrs)}; extrap_*: decades beyond the fitted runs",
        quiet=args.quiet,
    )
    return 0
