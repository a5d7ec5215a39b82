"""``bayescale decide``: compare candidate allocations of a budget under the posterior."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bayescale.cli._common import (
    add_budget_variant_args,
    add_ci,
    add_kind,
    add_quiet,
    add_seed,
    add_table_output,
    emit_table,
    format_table,
    labelled,
    positive,
    probability,
    say,
    write_csv,
)
from bayescale.cli.predict import add_group_args, group_value

if TYPE_CHECKING:
    import pandas as pd

#: Columns printed on the terminal (the CSV holds every column).
SHOWN = (
    "candidate",
    "params",
    "tokens",
    "tokens_per_param",
    "loss_mean",
    "loss_lower",
    "loss_upper",
    "loss_q",
    "p_best",
    "regret_mean",
    "regret_lower",
    "regret_upper",
    "budget_used",
    "extrap_N",
    "extrap_D",
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``decide`` subcommand."""
    p = sub.add_parser(
        "decide",
        help="compare allocations of a budget: expected loss, P(best), expected regret",
        description="Candidates: posterior_optimal, risk_averse, kaplan, chinchilla_20, "
        "hoffmann_a3, or N / N:D (e.g. 70e9:1.4e12). Default: every built-in.",
    )
    p.add_argument("fit", help="a fit file written by `bayescale fit`")
    p.add_argument("--flops", type=positive, nargs="+", help="budgets C in FLOP")
    p.add_argument("--candidates", nargs="+", help="built-in names and/or N or N:D values")
    add_budget_variant_args(p)
    p.add_argument(
        "--risk-quantile",
        type=probability,
        default=0.9,
        help="loss quantile minimised by risk_averse (default 0.9)",
    )
    p.add_argument(
        "--target-loss",
        type=positive,
        nargs="+",
        help="also report the cheapest model (training + serving) reaching these "
        "losses, with --inference-tokens",
    )
    add_ci(p)
    add_kind(p, "the loss and regret intervals")
    add_group_args(p)
    add_seed(p, "seed of new-group and law-error draws")
    add_table_output(p, what="the full table")
    add_quiet(p)
    p.set_defaults(func=run)


def _show(frame: pd.DataFrame) -> str:
    return format_table(frame)


def _print_budgets(table: pd.DataFrame, args: argparse.Namespace) -> None:
    """One block per budget: candidates within it ranked, over-budget ones listed apart."""
    keys = ["flops", "group"] if "group" in table.columns else ["flops"]
    for key, rows in table.groupby(keys, sort=False):
        label = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in zip(keys, key, strict=True)
        )
        print(
            f"# {label}; {args.kind}; interval {args.ci:.0%}; "
            f"loss_q = {args.risk_quantile:g} quantile"
            + (f"; serving {args.inference_tokens:.4g} tokens" if args.inference_tokens else "")
            + (f"; {args.unique_tokens:.4g} unique tokens" if args.unique_tokens else "")
        )
        within = rows.loc[~rows["over_budget"].astype(bool)]
        over = rows.loc[rows["over_budget"].astype(bool)]
        if len(within):
            print(_show(within[list(SHOWN)]))
        if len(over):
            print(
                f"# OVER BUDGET, not ranked: {len(over)} candidate(s) spend more than "
                f"{float(rows['flops'].iloc[0]):.4g} FLOP (budget_used > 1), so "
                "their lower loss and negative regret are not a choice within this budget"
            )
            print(_show(over[[c for c in SHOWN if c != "p_best"]]))


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale decide``."""
    from bayescale.analysis._common import to_frame
    from bayescale.analysis.decide import decide, inference_optimal
    from bayescale.exceptions import BayescaleError
    from bayescale.modeling.fit import load_fit

    if args.flops is None and args.target_loss is None:
        raise BayescaleError("give --flops (budgets to decide) and/or --target-loss")
    fit = load_fit(args.fit)
    if args.flops is not None:
        table = decide(
            fit,
            flops=args.flops,
            candidates=args.candidates,
            inference_tokens=args.inference_tokens,
            unique_tokens=args.unique_tokens,
            risk_quantile=args.risk_quantile,
            ci_prob=args.ci,
            group=group_value(args),
            random_seed=args.seed,
            kind=args.kind,
        )
        table = labelled(fit, table)
        if args.json or args.out == "-":
            emit_table(table, out=args.out, as_json=args.json, quiet=args.quiet)
        else:
            _print_budgets(table, args)
            if args.out:
                path = write_csv(table, args.out)
                say(f"wrote {len(table)} rows to {path}", quiet=args.quiet)
    if args.target_loss is not None:
        ds = inference_optimal(
            fit,
            target_loss=args.target_loss,
            inference_tokens=args.inference_tokens,
            group=group_value(args),
            random_seed=args.seed,
            ci_prob=args.ci,
        )
        frame = to_frame(ds)
        print(
            f"# cheapest model reaching each target loss, serving {args.inference_tokens:.4g} "
            f"tokens (medians; saving = 1 - total FLOP / training-optimal model's total FLOP)"
        )
        cols = [c for c in frame.columns if not c.endswith(("_lower", "_upper"))]
        print(_show(frame[cols]))
    return 0
