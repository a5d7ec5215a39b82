"""``bayescale fit``: fit a law to a run table and save the posterior."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import TYPE_CHECKING

from bayescale.cli._common import (
    add_out,
    add_quiet,
    add_seed,
    count,
    describe_diagnostics,
    load_runs,
    print_warnings,
    progress_every,
    say,
    units_line,
)

if TYPE_CHECKING:
    import pandas as pd

#: Largest table ``bayescale fit`` takes on without ``--max-rows``. benchmarks/scaling_rows.py
#: at the default 4 x (1,000 + 1,000) iterations, on a shared 2-core machine under load: 1,000
#: runs 199 s, 10,000 runs 751 s (growth exponent 0.58), 100,000 runs unfinished after 900 s.
MAX_ROWS = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fit`` subcommand."""
    p = sub.add_parser("fit", help="fit a scaling law and save the posterior (netCDF)")
    p.add_argument("--data", required=True, help="registered dataset name or a CSV/parquet file")
    p.add_argument("--spec", help="bundled spec name or a spec TOML file (default: --law)")
    p.add_argument("--law", help="law (and bundled spec) name, e.g. chinchilla, kaplan")
    p.add_argument(
        "--columns",
        help="map a file's own column names: YOURS=SCHEMA,... e.g. N=params,D=tokens,L=loss "
        "(schema: docs/reference/run-table-schema.md)",
    )
    p.add_argument(
        "--params-kind",
        choices=["total", "non_embedding"],
        help="which parameter count the file's params column holds (default: total)",
    )
    p.add_argument(
        "--loss-unit",
        choices=["nats_per_token", "bits_per_byte"],
        help="the file's loss unit (default: nats_per_token)",
    )
    p.add_argument("--group", help="group column for partial pooling")
    add_seed(p)
    p.add_argument("--draws", type=count(1), help="draws per chain (spec default 1000)")
    p.add_argument("--tune", type=count(1), help="tuning steps per chain (spec default 1000)")
    p.add_argument("--chains", type=count(1), help="chains (spec default 4)")
    p.add_argument("--sampler", choices=["auto", "nutpie", "pymc"], help="NUTS implementation")
    p.add_argument("--keep-outliers", action="store_true", help="fit rows flagged as outliers too")
    p.add_argument(
        "--max-rows",
        type=count(1),
        default=MAX_ROWS,
        help=f"refuse larger tables up front (default {MAX_ROWS:,}; fit time grows with the runs)",
    )
    p.add_argument(
        "--keep-log-likelihood",
        action="store_true",
        help="store the pointwise log-likelihood whatever its size (default: up to 5 million "
        "values; compare recomputes it otherwise)",
    )
    add_out(p, "fit", help="output fit file (.nc); an existing fit there is replaced")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit with code 3 when the diagnostics fail (the fit is still saved)",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale fit``."""
    from bayescale.exceptions import BayescaleError, ConventionWarning, ConvergenceWarning
    from bayescale.modeling.model import ScalingModel

    t0 = time.perf_counter()
    model = ScalingModel(args.spec, law=args.law, group=args.group)
    say(f"loading {args.data}", quiet=args.quiet)
    runs = _load_for_family(model.spec.law, args.data)
    if runs is None:
        runs = load_runs(
            args.data,
            group=args.group,
            columns=args.columns,
            params_kind=args.params_kind,
            loss_unit=args.loss_unit,
            quiet=args.quiet,
        )
    n_out = int(runs["outlier"].sum()) if "outlier" in runs and not args.keep_outliers else 0
    n_fit = len(runs) - n_out
    if n_fit > args.max_rows:
        raise BayescaleError(
            f"{args.data}: {n_fit:,} runs, more than --max-rows {args.max_rows:,} "
            "(benchmarks/scaling_rows.py: 10,000 runs already take over 10 minutes on a small "
            "machine); aggregate repeated configurations (one row per "
            "distinct params and tokens, with the mean loss), fit a subsample, or raise --max-rows"
        )
    s = model.spec.with_sampler(draws=args.draws, tune=args.tune, chains=args.chains)
    say(
        f"fitting {model.spec.name} ({model.spec.law}) to {len(runs) - n_out} runs"
        + (f" ({n_out} flagged outliers excluded)" if n_out else "")
        + f": {s.sampler['chains']} chains x {s.sampler['draws']} draws",
        quiet=args.quiet,
    )
    say(units_line(runs.attrs), quiet=args.quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", ConventionWarning)
        fit = model.fit(
            runs,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            sampler=args.sampler,
            random_seed=args.seed,
            exclude_outliers=not args.keep_outliers,
            progressbar=sys.stderr.isatty() and not args.quiet,
            progress_every=progress_every(args.quiet),
            log_likelihood=True if args.keep_log_likelihood else None,
        )
    failed = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    print_warnings(caught)
    path = fit.save(args.out)
    d = fit.diagnostics()
    say(
        f"saved {path} in {time.perf_counter() - t0:.1f} s ({describe_diagnostics(d)})",
        quiet=args.quiet,
    )
    if failed and args.strict:
        print("bayescale: error: --strict: the fit failed its diagnostics", file=sys.stderr)
        return 3
    return 0


def _load_for_family(law: str, data: str) -> pd.DataFrame | None:
    """A file for a model family that validates its own table (e.g. gradient-noise rows)."""
    from pathlib import Path

    from bayescale.laws import get_law
    from bayescale.modeling.build import family_module

    if not family_module(get_law(law).family).reads_raw_table or not Path(data).is_file():
        return None
    from bayescale.modeling.families._common import read_table

    return read_table(data)
