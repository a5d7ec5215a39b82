"""``bayescale plan``: which runs to train next, valued per FLOP by preposterior simulation."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayescale.cli._common import (
    add_ci,
    add_quiet,
    add_seed,
    add_table_output,
    check_output,
    count,
    format_table,
    positive,
    say,
    write_csv,
)

if TYPE_CHECKING:
    import pandas as pd

#: Columns of the printed candidate table (the CSV and JSON hold every column).
SHOWN = (
    "rank",
    "params",
    "tokens",
    "flops",
    "width_after",
    "reduction",
    "reduction_pct",
    "reduction_per_flop",
    "reduction_se",
    "ess",
    "method",
)
#: Candidate rows printed on the terminal.
SHOWN_ROWS = 15
#: Column aliases accepted in a --candidates file.
ALIASES = {"n": "params", "d": "tokens", "c": "flops"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``plan`` subcommand."""
    p = sub.add_parser(
        "plan",
        help="which runs to train next: expected shrinking of the N_opt interval per FLOP",
        description="Value candidate runs (N, D) by preposterior simulation of how much they "
        "would shrink the interval of the decision quantity at --target-flops (default N_opt), "
        "and recommend a batch under --budget (greedy by reduction per FLOP). Widths are "
        "decades: log10 of upper / lower bound. --sweep-out writes the batch as a runner sweep "
        '(kind = "list") for `bayescale run`; train it, append the rows, refit, plan again.',
    )
    p.add_argument("fit", help="a fit file written by `bayescale fit`")
    p.add_argument(
        "--target-flops", type=positive, required=True, help="budget C of the big run decided"
    )
    p.add_argument(
        "--budget", type=positive, required=True, help="FLOPs available for the next runs"
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--candidates",
        help="CSV of candidate runs: columns params and tokens (or one of them and flops; "
        "N, D, C accepted)",
    )
    source.add_argument(
        "--grid",
        choices=["isoflop", "ladder"],
        default=None,
        help="generated candidates (default isoflop): --levels compute levels from a tenth "
        "of the largest fitted run up to --budget, with --sizes D/N ratios each (isoflop) or "
        "one run at --tokens-per-param (ladder)",
    )
    p.add_argument("--levels", type=count(1), default=6, help="compute levels of --grid")
    p.add_argument("--sizes", type=count(1), default=5, help="runs per level of --grid isoflop")
    p.add_argument(
        "--tokens-per-param",
        type=positive,
        default=None,
        help="D/N of --grid ladder (default: the fitted runs' median)",
    )
    p.add_argument(
        "--objective",
        choices=["params_opt", "tokens_opt", "tokens_per_param", "loss_opt"],
        default="params_opt",
        help="decision quantity at --target-flops (default params_opt: N_opt)",
    )
    add_ci(p)
    p.add_argument(
        "--method",
        choices=["auto", "reweight", "linear"],
        default="auto",
        help="preposterior estimate: reweighted draws, linearised (Fisher) update, or auto "
        "(reweight; linear where the ESS falls below --min-ess)",
    )
    p.add_argument("--replicates", type=count(2), default=64, help="simulated outcome sets")
    p.add_argument("--draws", type=count(2), default=1000, help="posterior draws used at most")
    p.add_argument("--min-ess", type=positive, default=100.0, help="ESS threshold of auto")
    p.add_argument("--max-runs", type=count(1), default=None, help="at most this many runs")
    p.add_argument(
        "--sweep-out", default=None, help="write the batch as a runner sweep file (TOML)"
    )
    p.add_argument(
        "--sweep-template",
        default=None,
        help="a sweep file whose [defaults] (corpus, seq_len, batch_size, ...) the written "
        "sweep copies, e.g. the sweep that trained the fitted runs",
    )
    p.add_argument("--sweep-name", default="plan", help="[sweep] name of --sweep-out")
    p.add_argument(
        "--sweep-seed",
        type=count(0),
        default=0,
        help="training seed of the written runs (default 0); give each round its own, so a "
        "planned run the runner rounds onto an already trained one is trained anew, not skipped",
    )
    add_seed(p, "seed of the simulated outcomes", default=0)
    add_table_output(p, what="the ranked candidates")
    add_quiet(p)
    p.set_defaults(func=run)


def read_candidates(path: str) -> pd.DataFrame:
    """Read a --candidates CSV (columns params/tokens/flops, or N/D/C)."""
    import pandas as pd

    from bayescale.exceptions import BayescaleError

    if not Path(path).is_file():
        raise BayescaleError(f"--candidates {path}: no such file")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BayescaleError(f"--candidates {path}: not a readable CSV ({exc})") from None
    rename = {c: ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in table}
    return table.rename(columns=rename)


def _template_defaults(path: str) -> dict[str, Any]:
    import tomllib

    from bayescale.exceptions import BayescaleError

    p = Path(path)
    if not p.is_file():
        raise BayescaleError(f"--sweep-template {path}: no such file")
    try:
        config = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BayescaleError(f"--sweep-template {path}: not valid TOML ({exc})") from None
    defaults = config.get("defaults", {})
    if not isinstance(defaults, dict):
        raise BayescaleError(f"--sweep-template {path}: [defaults] must be a table")
    return dict(defaults)


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale plan``."""
    from bayescale.analysis.plan import candidate_grid, plan, sweep_toml
    from bayescale.exceptions import BayescaleError
    from bayescale.modeling.fit import load_fit

    # every input and output is checked before the fit is read
    if args.json and args.out == "-":
        raise BayescaleError("give one of --json and --out - (both print to stdout)")
    if args.budget > args.target_flops:
        raise BayescaleError(
            f"--budget {args.budget:g} exceeds --target-flops {args.target_flops:g}: the runs "
            "being planned are the small ones before the big run"
        )
    if args.sweep_template and not args.sweep_out:
        raise BayescaleError("--sweep-template needs --sweep-out")
    if args.grid is None and args.candidates is None:
        args.grid = "isoflop"
    if args.candidates is not None and (args.tokens_per_param is not None):
        raise BayescaleError("--tokens-per-param applies to --grid ladder, not --candidates")
    candidates = read_candidates(args.candidates) if args.candidates else None
    defaults = _template_defaults(args.sweep_template) if args.sweep_template else {}
    if args.sweep_out:
        inputs = [Path(x) for x in (args.fit, args.candidates, args.sweep_template) if x]
        note = check_output(
            args.sweep_out,
            kind="file",
            inputs=[x for x in inputs if x.exists()],
            force=args.force,
            label="--sweep-out",
        )
        if note:
            say(note, quiet=args.quiet)
    fit = load_fit(args.fit)
    if candidates is None:
        candidates = candidate_grid(
            fit,
            budget_flops=args.budget,
            kind=args.grid,
            levels=args.levels,
            sizes=args.sizes if args.grid == "isoflop" else 1,
            tokens_per_param=args.tokens_per_param,
        )
    say(
        f"simulating {args.replicates} outcome sets of {len(candidates)} candidate run(s) "
        f"on up to {args.draws} posterior draws",
        quiet=args.quiet,
    )
    result = plan(
        fit,
        target_flops=args.target_flops,
        budget_flops=args.budget,
        candidates=candidates,
        objective=args.objective,
        ci_prob=args.ci,
        method=args.method,
        replicates=args.replicates,
        max_draws=args.draws,
        min_ess=args.min_ess,
        max_runs=args.max_runs,
        random_seed=args.seed,
    )
    table = result.candidates
    if args.json:
        print(
            json.dumps(
                {
                    "attrs": result.attrs,
                    "batch": json.loads(result.batch.to_json(orient="records")),
                    "candidates": json.loads(table.to_json(orient="records")),
                },
                indent=2,
            )
        )
        if args.out:
            path = write_csv(table, args.out)
            say(f"wrote {len(table)} candidates to {path}", quiet=args.quiet)
    elif args.out == "-":
        table.to_csv(sys.stdout, index=False)
    else:
        print(f"# {result.summary()}")
        print(
            f"# candidates ranked by expected reduction of the {args.ci:.0%} interval width "
            "(decades) per FLOP, each run alone"
            + (f"; top {SHOWN_ROWS} of {len(table)}" if len(table) > SHOWN_ROWS else "")
        )
        print(format_table(table.head(SHOWN_ROWS), SHOWN))
        print("# recommended batch (greedy under the budget); width_after: once each is added")
        if len(result.batch):
            print(format_table(result.batch))
        else:
            print("(no run is expected to narrow the interval within the budget)")
        if args.out:
            path = write_csv(table, args.out)
            say(f"wrote {len(table)} candidates to {path}", quiet=args.quiet)
    if args.sweep_out:
        from bayescale._atomic import atomic_path

        text = sweep_toml(
            result.batch,
            name=args.sweep_name,
            defaults=defaults,
            seeds=(args.sweep_seed,),
            comment=(
                f"written by `bayescale plan {Path(args.fit).name}`: {result.summary()}\n"
                "params is the total parameter count: the runner trains the depth whose count "
                "is nearest, and rounds tokens to whole steps"
            ),
        )
        with atomic_path(args.sweep_out) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
        say(f"wrote {len(result.batch)} run(s) to the sweep {args.sweep_out}", quiet=args.quiet)
    return 0
