"""``bayescale demo``: the main job, offline, on the bundled runner-made table.

Fits the Chinchilla law to ``runner_cpu`` (small transformers trained on a CPU by
``bayescale run``, shipped with the package) with the ``chinchilla_small`` spec, whose priors suit
byte-level models of that size (``models/chinchilla_small.toml``), states how well those priors
cover the data (a prior predictive check), prints the posterior summary and the compute-optimal
allocations for a few budgets, each labelled with its distance beyond the fitted runs, and
writes ``DIR/fit.nc`` and ``DIR/report.html``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from bayescale.cli._common import (
    add_out,
    add_quiet,
    add_seed,
    count,
    format_table,
    labelled,
    print_warnings,
    progress_every,
    say,
)

#: The bundled dataset the demo fits.
DEMO_DATASET = "runner_cpu"
#: The spec it fits: Chinchilla's law with priors for small byte-level runs.
DEMO_SPEC = "chinchilla_small"
#: Budgets of the demo's allocation table, as multiples of the data's largest compute
#: (rounded up to a power of ten): the first is within reach of the runs, the others
#: extrapolate up to 1.5 decades, inside the 2-decade warning of
#: :data:`bayescale.analysis.extrapolation.WARN_DECADES`.
DEMO_BUDGET_FACTORS: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)


def demo_budgets(max_flops: float) -> list[float]:
    """The demo's budgets for a table whose largest run used ``max_flops`` FLOP.

    Examples
    --------
    >>> [f"{c:.0e}" for c in demo_budgets(3.2e12)]
    ['1e+13', '3e+13', '1e+14', '3e+14']
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
        f"({DEMO_SPEC!r} spec) to the bundled {DEMO_DATASET!r} table, state the prior "
        "predictive coverage, print the summary and the compute-optimal allocations for a few "
        "budgets, and write DIR/fit.nc and DIR/report.html.",
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
        f"[2/4] fitting the Chinchilla law ({DEMO_SPEC} spec): {args.chains} chains x "
        f"{args.draws} draws (the first run in a fresh install compiles the model, about half "
        "a minute)",
        quiet=quiet,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = bs.ScalingModel(DEMO_SPEC).fit(
            runs,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            random_seed=args.seed,
            progressbar=sys.stderr.isatty() and not quiet,
            progress_every=progress_every(quiet),
        )
    print_warnings(caught)
    fit_path = fit.save(out / "fit.nc")
    say(f"      saved {fit_path} ({time.perf_counter() - t0:.1f} s so far)", quiet=quiet)

    inside, n_runs = prior_coverage(fit)
    print(
        f"Prior predictive check ({DEMO_SPEC} priors): {inside} of {n_runs} runs "
        f"({inside / n_runs:.0%}) inside the prior 90% interval"
    )
    table = fit.summary()
    d = fit.diagnostics()
    print(f"\nPosterior summary ({fit!r}), medians and 90% intervals:")
    print(table[["median", "lower", "upper", "r_hat", "ess_bulk"]].to_string(float_format=_g))
    print(
        f"max R-hat {d['r_hat_max']:.3f}, min bulk ESS {d['ess_bulk_min']:.0f}, "
        f"{d['divergences']} divergences"
    )
    say("[3/4] compute-optimal allocations", quiet=quiet)
    budgets = demo_budgets(float(fit.runs["flops"].max()))
    alloc = labelled(
        fit,
        to_frame(allocate(fit, flops=budgets)),
        columns={"params": "params_opt_median", "tokens": "tokens_opt_median"},
    )
    print(
        "\nCompute-optimal allocation (C = 6ND), medians and 90% intervals; extrap_*: decades "
        "beyond the fitted runs:"
    )
    cols = [
        "flops",
        "params_opt_median",
        "params_opt_lower",
        "params_opt_upper",
        "tokens_per_param_median",
        "loss_opt_median",
        "extrap_N",
        "extrap_D",
        "extrap_C",
    ]
    print(format_table(alloc, cols))
    say("[4/4] writing the report (figures take a few seconds)", quiet=quiet)
    report = write_report(fit, out / "report.html", budgets=budgets)
    print(f"\nReport: {report}\nFit:    {fit_path}")
    say(f"done in {time.perf_counter() - t0:.1f} s", quiet=quiet)
    return 0


def prior_coverage(fit: Any, *, ci_prob: float = 0.9, draws: int = 500) -> tuple[int, int]:
    """How many of the fitted runs lie inside their prior predictive ``ci_prob`` interval."""
    from bayescale.intervals import eti_dims
    from bayescale.plots import _draws

    inputs = {c: fit.runs[c].to_numpy(float) for c in fit.law.inputs}
    pred = _draws.prior_predictive_draws(fit, inputs, draws=draws, seed=0)
    q = eti_dims(pred, ci_prob, skipna=True)  # as the report's prior predictive check
    obs = fit.runs["loss"].to_numpy(float)
    inside = (obs >= q["lower"].to_numpy()) & (obs <= q["upper"].to_numpy())
    return int(inside.sum()), int(obs.size)


def _g(value: float) -> str:
    return f"{value:.4g}"
