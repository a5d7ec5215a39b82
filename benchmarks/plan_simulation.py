"""Does ``bs.plan`` pick runs that shrink the N_opt interval more per FLOP than a naive grid?

On synthetic Chinchilla ladders with known truth (:func:`bayescale.testing.simulate_runs`,
Besiroglu et al.'s values), each replicate:

1. fits the ladder (small sampler settings);
2. plans a batch under a budget (by default the ladder's own total compute) for N_opt at a
   target 100x the largest run;
3. trains (simulates from the truth, same noise as the ladder) the planned batch and an
   equal-cost naive ladder (sizes log-spaced over the fitted range, D = 20 N, one common
   scale factor), and refits each with the new rows;
4. records the width of the 90 % interval of N_opt (decades, log10 upper / lower) before,
   after the plan (predicted by the preposterior and actually refitted) and after the naive
   grid, and whether each interval covers the true N_opt.

Acceptance (issue 19): median over replicates of the planned reduction / naive reduction
(equal cost, so it is the ratio of reduction per FLOP) >= 1.5; coverage of the planned
refit >= 85 %; median |predicted / refitted width - 1| <= 25 %.

Run: ``python benchmarks/plan_simulation.py --replicates 20 --out results.jsonl``
(one JSON line per replicate, then a summary line).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

TOKENS_PER_PARAM_NAIVE = 20.0
NOISE = 0.01


def _truth_opt(target: float) -> float:
    from bayescale.analysis.allocate import optimum
    from bayescale.laws import get_law
    from bayescale.testing import EPOCH_ESTIMATES

    theta = xr.Dataset({k: float(v) for k, v in EPOCH_ESTIMATES.items()})
    return float(
        optimum(get_law("chinchilla"), theta, xr.DataArray([target], dims="f"))["params_opt"][0]
    )


def _outcomes(runs: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    from bayescale.laws import get_law
    from bayescale.testing import EPOCH_ESTIMATES

    law = get_law("chinchilla")
    n = runs["params"].to_numpy(float)
    d = runs["tokens"].to_numpy(float)
    mean = law.loss(n, d, **{p: EPOCH_ESTIMATES[p] for p in law.params})
    return pd.DataFrame(
        {
            "params": n,
            "tokens": d,
            "flops": 6 * n * d,
            "steps": d / 1e6,
            "unique_tokens": d,
            "loss": mean * np.exp(NOISE * rng.standard_normal(n.size)),
        }
    )


def _fit(runs: pd.DataFrame, *, draws: int, seed: int) -> Any:
    import bayescale as bs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.ScalingModel(law="chinchilla").fit(
            runs, draws=draws, tune=draws, chains=2, random_seed=seed
        )


def _interval(fit: Any, target: float, ci: float = 0.9) -> tuple[float, float]:
    from bayescale.analysis.allocate import allocate
    from bayescale.intervals import eti

    # kind="mean": the posterior of the law's optimum, the interval plan values (see plan.py)
    n = allocate(fit, flops=target, kind="mean")["params_opt"].values.ravel()
    lo, _, hi = eti(n, ci)
    return float(lo), float(hi)


def replicate(
    seed: int,
    *,
    n_runs: int = 20,
    draws: int = 300,
    budget_fraction: float = 1.0,
    replicates: int = 48,
    max_draws: int = 600,
) -> dict[str, Any]:
    """One replicate of the comparison (see the module docstring)."""
    from bayescale.analysis.plan import equal_cost_ladder, plan
    from bayescale.data.schema import validate_runs
    from bayescale.testing import simulate_runs

    rng = np.random.default_rng(10_000 + seed)
    ladder = simulate_runs(n=n_runs, noise=NOISE, seed=seed)
    cols = ["params", "tokens", "flops", "steps", "unique_tokens", "loss"]
    ladder = ladder[cols]
    target = 100 * float(ladder["flops"].max())
    budget = budget_fraction * float(ladder["flops"].sum())
    truth = _truth_opt(target)
    t0 = time.perf_counter()
    fit0 = _fit(ladder, draws=draws, seed=seed)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = plan(
        fit0,
        target_flops=target,
        budget_flops=budget,
        replicates=replicates,
        max_draws=max_draws,
        random_seed=seed,
    )
    t_plan = time.perf_counter() - t0
    batch = result.batch
    cost = float(batch["flops"].sum())
    naive = equal_cost_ladder(
        fit0, budget_flops=cost, runs=max(len(batch), 2), tokens_per_param=TOKENS_PER_PARAM_NAIVE
    )
    out: dict[str, Any] = {
        "seed": seed,
        "target_flops": target,
        "budget_flops": budget,
        "batch_runs": len(batch),
        "batch_flops": cost,
        "naive_runs": len(naive),
        "naive_flops": float(naive["flops"].sum()),
        "method": result.attrs["method"],
        "batch_ess_last": float(batch["ess"].iloc[-1]) if len(batch) else float("nan"),
        "fit_s": t_fit,
        "plan_s": t_plan,
        "truth_n_opt": truth,
    }
    widths: dict[str, float] = {}
    cover: dict[str, bool] = {}
    for name, fit in (
        ("before", fit0),
        (
            "plan",
            _fit(
                validate_runs(pd.concat([ladder, _outcomes(batch, rng)])),
                draws=draws,
                seed=seed + 1,
            ),
        ),
        (
            "naive",
            _fit(
                validate_runs(pd.concat([ladder, _outcomes(naive, rng)])),
                draws=draws,
                seed=seed + 2,
            ),
        ),
    ):
        lo, hi = _interval(fit, target)
        widths[name] = float(np.log10(hi / lo))
        cover[name] = bool(lo <= truth <= hi)
    out.update({f"width_{k}": v for k, v in widths.items()})
    out.update({f"covers_{k}": v for k, v in cover.items()})
    out["width_plan_predicted"] = float(result.attrs["width_after"])
    # the plan's own estimate of the interval now, on the draws it used
    out["width_before_plan_draws"] = float(result.attrs["width_now"])
    out["reduction_plan"] = widths["before"] - widths["plan"]
    out["reduction_naive"] = widths["before"] - widths["naive"]
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Acceptance figures over replicates."""
    red_p = np.array([r["reduction_plan"] for r in rows])
    red_n = np.array([r["reduction_naive"] for r in rows])
    per_flop_p = red_p / np.array([r["batch_flops"] for r in rows])
    per_flop_n = red_n / np.array([r["naive_flops"] for r in rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = per_flop_p / per_flop_n
    pred = np.array([r["width_plan_predicted"] for r in rows])
    actual = np.array([r["width_plan"] for r in rows])
    return {
        "replicates": len(rows),
        "median_reduction_plan": float(np.median(red_p)),
        "median_reduction_naive": float(np.median(red_n)),
        # ratio of medians is robust to a naive reduction near 0 in one replicate
        "ratio_of_median_reduction_per_flop": float(np.median(per_flop_p) / np.median(per_flop_n)),
        "median_ratio_reduction_per_flop": float(np.median(ratio)),
        "coverage_plan": float(np.mean([r["covers_plan"] for r in rows])),
        "coverage_naive": float(np.mean([r["covers_naive"] for r in rows])),
        "coverage_before": float(np.mean([r["covers_before"] for r in rows])),
        "median_width_before": float(np.median([r["width_before"] for r in rows])),
        "median_width_plan": float(np.median(actual)),
        "median_width_naive": float(np.median([r["width_naive"] for r in rows])),
        "median_predicted_over_refit": float(np.median(pred / actual)),
        "median_abs_predicted_error": float(np.median(np.abs(pred / actual - 1))),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=20)
    p.add_argument("--draws", type=int, default=300, help="draws (and tune) per chain, 2 chains")
    p.add_argument("--runs", type=int, default=20, help="runs in each synthetic ladder")
    p.add_argument("--budget-fraction", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=None, help="JSON lines, one per replicate")
    args = p.parse_args(argv)
    rows = []
    sink = args.out.open("w") if args.out else sys.stdout
    for seed in range(args.replicates):
        row = replicate(
            seed, n_runs=args.runs, draws=args.draws, budget_fraction=args.budget_fraction
        )
        rows.append(row)
        print(json.dumps(row), file=sink, flush=True)
    print(json.dumps({"summary": summarize(rows)}), file=sink, flush=True)
    if args.out:
        sink.close()
        print(json.dumps(summarize(rows), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
