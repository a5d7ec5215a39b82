"""``bayescale allocate``: posterior of the compute-optimal allocation per FLOP budget."""

from __future__ import annotations

import argparse

from bayescale.cli._common import (
    add_budget_variant_args,
    add_ci,
    add_out,
    add_quiet,
    add_seed,
    positive,
    say,
    write_csv,
)
from bayescale.cli.predict import add_group_args, group_value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``allocate`` subcommand."""
    p = sub.add_parser(
        "allocate",
        help="compute-optimal N, D, D/N and loss per budget, with intervals",
        description="Write one row per budget: flops, and <name>_median/_lower/_upper for "
        "params_opt, tokens_opt, tokens_per_param, loss_opt.",
    )
    p.add_argument("fit", help="a fit file written by `bayescale fit`")
    p.add_argument("--flops", type=positive, nargs="+", required=True, help="budgets C in FLOP")
    add_ci(p)
    add_budget_variant_args(p)
    p.add_argument(
        "--method",
        choices=["auto", "closed", "numeric"],
        default="auto",
        help="closed form (Chinchilla) or the numerical optimum",
    )
    add_group_args(p)
    add_seed(p, "seed of new-group draws")
    add_out(p, "file", help="output CSV")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale allocate``."""
    from bayescale.analysis.allocate import allocate, to_frame
    from bayescale.modeling.fit import load_fit

    fit = load_fit(args.fit)
    ds = allocate(
        fit,
        flops=args.flops,
        ci_prob=args.ci,
        inference_tokens=args.inference_tokens,
        unique_tokens=args.unique_tokens,
        method=args.method,
        group=group_value(args),
        random_seed=args.seed,
    )
    table = to_frame(ds)
    path = write_csv(table, args.out)
    say(
        f"wrote {len(table)} allocations ({ds.attrs['method']}, {args.ci:.0%} interval) to {path}",
        quiet=args.quiet,
    )
    return 0
