"""``bayescale demo``: the main job, offline, on the bundled runner-made table.

Fits the Chinchilla law to ``runner_cpu`` (small transformers trained on a CPU by
``bayescale run``, shipped with the package), prints the posterior summary and the
compute-optimal allocations for a few budgets, and writes ``DIR/fit.nc`` and ``DIR/report.html``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from bayescale.cli._common import (
    add_out,
    add_quiet,
    add_seed,
    count,
    print_warnings,
    progress_every,
    say,
)

#: The bundled dataset the demo fits.
DEMO_DATASET = "runner_cpu"
#: Budgets of the demo's allocation table, as multiples of the data's largest compute
#: (rounded up to a power of ten): the first is within reach of the runs, the others extrapolate.
DEMO_BUDGET_FACTORS: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)


def demo_budgets(max_flops: float) -> list[float]:
    """The demo's budgets for a table whose largest run used ``max_flops`` FLOP.

    Examples
    --------
    >>> [f"{c:.0e}" for c in demo_budgets(3.2e12)]
    ['1e+13', '1e+14', '1e+15', '1e+16']
    """
    import math

    top = 10.0 ** math.ceil(math.log10(max_flops))
    return [float(f"{top * f:.3g}") for f in DEMO_BUDGET_FACTORS]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo",
        help="fit the bundled runner-made table, print allocations, write a report (offline)",
        description="The main job on a fresh install with no network: fit the Chinchilla law "
        f"to the bundled {DEMO_DATASET!r} table, print the summary and the compute-optimal "
        "allocations for a few budgets, and write DIR/fit.nc and DIR/report.html.",
    )
    add_out(
        p,
        "dir",
        required=False,
        default="bayescale-demo",
        help="output folder (default ./bayescale-demo); an existing fit.nc there is replaced, "
        "an existing report.html only with --force",
    )
    p.set_defaults(out_files={"fit.nc": "fit", "report.html": "file"})
    add_seed(p, "random seed (default 1)", default=1)
    # a table this small identifies E weakly: 2000 draws per chain leave a margin over ESS 400
    p.add_argument("--draws", type=count(1), default=2000, help="draws per chain (default 2000)")
    p.add_argument(
        "--tune", type=count(1), default=1000, help="tuning steps per chain (default 1000)"
    )
    p.add_argument("--chains", type=count(1), default=4, help="chains (default 4)")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale demo``."""
    import matplotlib

    matplotlib.use("Agg")

    import bayescale as bs
    from bayescale.analysis.allocate import allocate, to_frame
    from bayescale.exceptions import ConvergenceWarning
    from bayescale.report import write_report

    t0 = time.perf_counter()
    out = Path(args.out)
    quiet = args.quiet
    say(f"[1/4] loading the bundled dataset {DEMO_DATASET!r}", quiet=quiet)
    runs = bs.load_dataset(DEMO_DATASET)
    say(
        f"      {len(runs)} runs, N {runs['params'].min():.3g}..{runs['params'].max():.3g} "
        f"parameters, D {runs['tokens'].min():.3g}..{runs['tokens'].max():.3g} tokens",
        quiet=quiet,
    )
    say(
        f"[2/4] fitting the Chinchilla law: {args.chains} chains x {args.draws} draws "
        "(the first run in a fresh install compiles the model, about half a minute)",
        quiet=quiet,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = bs.ScalingModel("chinchilla").fit(
            runs,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            random_seed=args.seed,
            progressbar=sys.stderr.isatty() and not quiet,
            progress_every=progress_every(quiet),
        )
    print_warnings(caught, ConvergenceWarning)
    fit_path = fit.save(out / "fit.nc")
    say(f"      saved {fit_path} ({time.perf_counter() - t0:.1f} s so far)", quiet=quiet)

    table = fit.summary()
    print(f"Posterior summary ({fit!r}), medians and 90% intervals:")
    print(table[["median", "lower", "upper", "r_hat", "ess_bulk"]].to_string(float_format=_g))
    say("[3/4] compute-optimal allocations", quiet=quiet)
    budgets = demo_budgets(float(fit.runs["flops"].max()))
    alloc = to_frame(allocate(fit, flops=budgets))
    print("\nCompute-optimal allocation (C = 6ND), medians and 90% intervals:")
    cols = [
        "flops",
        "params_opt_median",
        "params_opt_lower",
        "params_opt_upper",
        "tokens_per_param_median",
        "loss_opt_median",
    ]
    print(alloc[cols].to_string(index=False, float_format=_g))
    say("[4/4] writing the report (figures take a few seconds)", quiet=quiet)
    report = write_report(fit, out / "report.html", budgets=budgets)
    print(f"\nReport: {report}\nFit:    {fit_path}")
    say(f"done in {time.perf_counter() - t0:.1f} s", quiet=quiet)
    return 0


def _g(value: float) -> str:
    return f"{value:.4g}"
