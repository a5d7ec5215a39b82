"""``bayescale allocate``: posterior of the compute-optimal allocation per FLOP budget."""

from __future__ import annotations

import argparse

from bayescale.cli._common import (
    add_budget_variant_args,
    add_ci,
    add_kind,
    add_quiet,
    add_seed,
    add_table_output,
    emit_table,
    labelled,
    positive,
    units_line,
)
from bayescale.cli.predict import add_group_args, group_value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``allocate`` subcommand."""
    p = sub.add_parser(
        "allocate",
        help="compute-optimal N, D, D/N and loss per budget, with intervals",
        description="Print (and with --out write) one row per budget: flops, "
        "<name>_median/_lower/_upper for params_opt, tokens_opt, tokens_per_param, loss_opt, "
        "and extrap_N, extrap_D, extrap_C: decades of the median optimum beyond the range of "
        "the fitted runs (0 inside it).",
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
    add_kind(p, "the N_opt and D_opt intervals")
    add_group_args(p)
    add_seed(p, "seed of new-group and law-error draws")
    add_table_output(p, what="the allocations")
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
        kind=args.kind,
    )
    table = labelled(
        fit, to_frame(ds), columns={"params": "params_opt_median", "tokens": "tokens_opt_median"}
    )
    shown = ["flops"] + [c for c in table.columns if c.startswith(SHOWN_PREFIXES)]
    emit_table(
        table,
        out=args.out,
        as_json=args.json,
        columns=shown,
        title=f"# compute-optimal allocation ({ds.attrs['method']}, {args.kind}), medians and "
        f"{args.ci:.0%} intervals; {units_line(fit.tree.attrs)}; "
        "extrap_*: decades beyond the fitted runs",
        quiet=args.quiet,
        what="allocations",
    )
    return 0


#: Columns of the printed table (the CSV and JSON hold every column).
SHOWN_PREFIXES = (
    "group",
    "params_opt_",
    "tokens_opt_median",
    "tokens_per_param_median",
    "loss_opt_median",
    "extrap_",
)
