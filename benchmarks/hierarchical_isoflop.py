"""Hierarchical IsoFLOP fit over all 15 configurations of porian2024 at once: time and convergence.

Fits ``models/isoflop_hierarchical.toml`` (a and G partially pooled over ``config``; each
(config, budget) cell with its own curvature and vertex loss) to the whole table in this process,
with the spec's sampler settings (4 chains x 1000 draws after 500 tuning steps, nutpie, chains
started from the data) unless overridden, and reports wall time (model build + compilation +
sampling + log-likelihood), the worst R-hat and smallest bulk ESS over a, b, G (and skew) and their
population values and over every sampled variable (``r_hat_max_all_reported``), divergences, and
each configuration's a next to the authors' published value.

Target (issue 5): R-hat <= 1.01 within 120 s on the project's 2-core machine.

Run: BAYESCALE_DATA=../shared/datasets python benchmarks/hierarchical_isoflop.py [--chains 4]
     [--draws 1000] [--tune 1000] [--seed 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings


def main() -> int:
    """Run the benchmark and print a report (and optionally write it as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args()

    t_import = time.perf_counter()
    import bayescale as bs
    from bayescale.data.published import published_fit
    from bayescale.exceptions import ConvergenceWarning

    runs = bs.load_dataset("porian2024")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = bs.ScalingModel("isoflop_hierarchical").fit(
            runs, draws=args.draws, tune=args.tune, chains=args.chains, random_seed=args.seed
        )
    wall = time.perf_counter() - t0
    names = ["a", "b", "G", "skew", "a_pop", "a_tau", "G_tau", "skew_pop", "skew_tau", "sigma"]
    table = fit.summary(var_names=[n for n in names if n in fit.posterior])
    diag = fit.diagnostics()
    per_config = []
    for cfg in fit.info.groups:
        pub = published_fit(f"porian2024:{cfg}")
        row = table.loc[f"a[{cfg}]"]
        per_config.append(
            {
                "config": cfg,
                "a_median": float(row["median"]),
                "a_lower": float(row["lower"]),
                "a_upper": float(row["upper"]),
                "published_a": float(pub.values["a"]),
                "diff": float(row["median"] - pub.values["a"]),
            }
        )
    report = {
        "rows_fitted": len(fit.runs),
        "rows_left_out_by_window": int(fit.runs.attrs.get("isoflop_window_excluded", 0)),
        "budgets": int(fit.posterior.sizes["budget"]),
        "configs": len(fit.info.groups),
        "chains": int(fit.posterior.sizes["chain"]),
        "draws": int(fit.posterior.sizes["draw"]),
        "wall_s": round(wall, 1),
        "import_s": round(t0 - t_import, 1),
        "r_hat_max": round(float(table["r_hat"].max()), 4),
        "r_hat_max_all_reported": round(diag["r_hat_max"], 4),
        "ess_bulk_min": round(float(table["ess_bulk"].min()), 0),
        "divergences": diag["divergences"],
        "convergence_warnings": [
            str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)
        ],
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "per_config": per_config,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "per_config"}, indent=1))
    for r in per_config:
        print(
            f"{r['config']:42s} a = {r['a_median']:.3f} [{r['a_lower']:.3f}, {r['a_upper']:.3f}]"
            f"  published {r['published_a']:.3f}  diff {r['diff']:+.3f}"
        )
    ok = max(report["r_hat_max"], report["r_hat_max_all_reported"]) <= 1.01 and wall <= 120
    print(f"target (R-hat <= 1.01 within 120 s): {'met' if ok else 'NOT met'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
