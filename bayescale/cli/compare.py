"""``bayescale compare``: compare saved fits by PSIS-LOO or by extrapolation.

``--method loo`` (default) reads each fit's stored log-likelihood; the fits must be of the same
losses (same runs in the same order). ``--method extrapolation`` refits each fit's spec on the
run table stored in its file, restricted to the runs with ``--on`` ≤ ``--threshold``, and scores
the held-out larger runs (coverage of the 50 % and 90 % predictive intervals, log predictive
density, CRPS, median absolute relative error). The table goes to standard output (or ``--out``
as CSV, or ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings

from bayescale.cli._common import (
    add_out,
    add_quiet,
    add_seed,
    count,
    positive,
    print_warnings,
    say,
    write_csv,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    p = sub.add_parser(
        "compare",
        help="compare fits by PSIS-LOO or by extrapolation to held-out larger runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("fits", nargs="+", metavar="FIT.nc", help="saved fits (bayescale fit --out)")
    p.add_argument("--method", choices=["loo", "extrapolation"], default="loo")
    p.add_argument(
        "--threshold", type=positive, help="extrapolation: refit on runs with --on <= this value"
    )
    p.add_argument(
        "--on",
        default="flops",
        help="extrapolation split column: flops (default), params, params_nonembedding, tokens",
    )
    p.add_argument("--names", help="comma-separated model names (default: the specs' names)")
    add_seed(p, "random seed of the refits")
    p.add_argument("--draws", type=count(1), help="refit draws per chain (spec default)")
    p.add_argument("--tune", type=count(1), help="refit tuning steps per chain (spec default)")
    p.add_argument("--chains", type=count(1), help="refit chains (spec default)")
    add_out(p, "file", required=False, help="write the table as CSV here")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    add_quiet(p)
    p.set_defaults(func=run)


def check_fit_files(paths: list[str], *, same_losses: bool) -> None:
    """Refuse one fit, the same fit twice, and (for LOO) fits of different losses.

    Reads only each file's attributes and losses: it runs before any posterior is loaded.
    """
    import numpy as np

    from bayescale.exceptions import BayescaleError, FitFileError
    from bayescale.modeling import _container
    from bayescale.modeling.fit import load_fit

    if len(paths) < 2:
        raise BayescaleError(f"compare needs two or more fits, got {len(paths)}")
    seen: dict[str, str] = {}
    losses: dict[str, np.ndarray] = {}
    for path in paths:
        try:
            attrs, arrays = _container.peek(path, ("fit_data/loss",))
        except (OSError, KeyError):
            load_fit(path)  # raises the precise error (missing, unreadable, not a fit)
            raise FitFileError(f"{path}: cannot be read as a fit file") from None
        sums = json.loads(str(attrs.get("checksums_sha256") or "{}"))
        key = str(sums.get("posterior") or os.path.realpath(path))  # same draws: same fit
        if key in seen:
            raise BayescaleError(f"{path} and {seen[key]} are the same fit; compare different fits")
        seen[key] = path
        losses[path] = np.asarray(arrays["fit_data/loss"], dtype=float)
    if same_losses:
        (first, ref), *others = losses.items()
        for path, y in others:
            if y.shape != ref.shape or not np.allclose(y, ref, rtol=1e-12, atol=0.0):
                raise BayescaleError(
                    f"LOO compares fits of the same losses: {path} was fitted to {y.size} runs, "
                    f"{first} to {ref.size} (or to other losses, or in another order); use "
                    "--method extrapolation or refit on one table"
                )


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale compare``."""
    from bayescale.analysis.compare import compare
    from bayescale.exceptions import BayescaleError, ConvergenceWarning
    from bayescale.modeling.fit import load_fit

    if args.method == "extrapolation" and args.threshold is None:
        raise BayescaleError("--method extrapolation needs --threshold (and --on, default flops)")
    if args.method == "loo" and args.threshold is not None:
        raise BayescaleError("--threshold applies to --method extrapolation only")
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    check_fit_files(args.fits, same_losses=args.method == "loo")
    fits = [load_fit(path) for path in args.fits]
    say(f"comparing {len(fits)} fit(s) by {args.method}", quiet=args.quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = compare(
            fits,
            method=args.method,
            threshold=args.threshold,
            on=args.on,
            names=names,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            random_seed=args.seed,
        )
    print_warnings(caught, ConvergenceWarning, UserWarning)
    frame = table.reset_index()
    if args.out:
        path = write_csv(frame, args.out)
        say(f"wrote {path}", quiet=args.quiet)
    if args.json:
        print(json.dumps(json.loads(frame.to_json(orient="records")), indent=1))
    elif not args.out:
        print(frame.to_string(index=False))
    return 0
