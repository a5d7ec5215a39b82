"""Back-test of predictive bands 3-30x past the fitted compute, over the public tables.

Three models, scored on the same held-out rows (one row per cut and held-out run):

- ``today``: the Chinchilla spec's posterior with observation noise only (``kind="noise"``,
  what ``--kind predictive`` meant before the discrepancy term);
- ``bootstrap``: an Epoch-style point fit (Huber on log loss, L-BFGS-B, the baseline of
  ``benchmarks/fit_speed.py``) with bootstrap refits, each prediction times a residual of its
  own refit drawn at random (resampled residual noise);
- ``new``: the same posterior plus the discrepancy term (``kind="predictive"``), whose scales
  (per decade of compute, of N and of D outside the fitted range, absolute and per unit of each
  draw's noise scale sigma; the tokens-per-parameter scale is held at 0) are calibrated *leave
  one source out*: each table is scored with the
  scales that minimise the mean 90 % interval score over the other sources' tables (every
  source weighing the same; porian2024's 15 configurations are one source, as they share
  training runs). The scales chosen on all sources are printed as the value for the bundled
  specs.

The compute-optimal size of each held-out porian2024 budget is checked against the 90 %
``allocate`` interval of today's model (``kind="mean"``) and of the new one (``kind="predictive"``
with the source's leave-one-out scales).

Tables: ``epoch_chinchilla``, ``misfitting2025`` final runs (best learning rate per (N, D)),
each ``porian2024`` configuration (the parametric view: every isoFLOP point as a run), and
``runner_cpu``; cuts from :func:`bayescale.analysis.backtest.backtest_cuts` at 3x, 10x, 30x,
plus Epoch's acceptance split (fit C <= 1e20, score the runs above 1e21). Fits are cached in
``--cache``; a rerun only scores.

Run: BAYESCALE_DATA=../shared/datasets python benchmarks/backtest.py --cache .cache/backtest
     [--draws 500 --tune 500 --chains 2] [--porian all|N] [--boot 100] [--out DIR]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_speed import fit_once, huber_objective  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale.analysis.backtest import (  # noqa: E402
    FACTORS,
    backtest_cuts,
    cached_fit,
    factor_bin,
    optimum_scores,
    score_draws,
    summarize_backtest,
)
from bayescale.analysis.discrepancy import DIRECTIONS, distances, scale  # noqa: E402
from bayescale.analysis.predict import predict  # noqa: E402
from bayescale.constants import SAMPLE_DIMS  # noqa: E402
from bayescale.data.loaders import porian_config  # noqa: E402
from bayescale.intervals import eti  # noqa: E402
from bayescale.modeling.model import ScalingModel  # noqa: E402
from bayescale.modeling.spec import Discrepancy, load_spec  # noqa: E402

#: Candidate scales of the discrepancy (the :class:`Discrepancy` fields: sd of log loss per
#: decade outside the fitted range, absolute or per unit of sigma). The tokens-per-parameter
#: direction is left out: only 2 % of the held-out rows leave the fitted D/N range, and a
#: slope in it lets ``allocate``'s optimum run off to extreme D/N for the draws whose slope is
#: negative (the N and D slopes cover that direction). Absolute N and D scales were tried
#: (a source-weighted interval score of 0.239, against 0.220 for scales per unit of sigma).
GRID: dict[str, tuple[float, ...]] = {
    "compute": (0.0, 0.005, 0.01, 0.015),
    "compute_per_sigma": (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
    "params_per_sigma": (0.0, 0.25, 0.5, 1.0, 2.0),
    "tokens_per_sigma": (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0),
}


def tables(porian: str) -> dict[str, pd.DataFrame]:
    out = {"epoch_chinchilla": bs.load_dataset("epoch_chinchilla")}
    mis = bs.load_dataset("misfitting2025")
    mis = mis.loc[~mis["outlier"]]
    best = mis.loc[mis.groupby(["params", "tokens"])["loss"].idxmin()]
    # its 'run' column clashes with the fit file's 'run' dim (Fit.save cannot store it)
    best = best.drop(columns=["run"]).copy()
    best.attrs = dict(mis.attrs)
    out["misfitting2025"] = best
    por = bs.load_dataset("porian2024")
    configs = sorted(por["config"].unique())
    if porian.startswith("every:"):  # every k-th configuration, for a quicker run
        configs = configs[:: int(porian.split(":")[1])]
    elif porian != "all":
        configs = configs[: int(porian)]
    for c in configs:
        out[f"porian2024:{c}"] = porian_config(por, c)
    out["runner_cpu"] = bs.load_dataset("runner_cpu")
    return out


def bootstrap_draws(
    lower: pd.DataFrame, held: pd.DataFrame, n_boot: int, per_boot: int, seed: int
) -> np.ndarray:
    """Log-loss draws (held rows x n_boot*per_boot): refit predictions times own residuals."""
    rng = np.random.default_rng(seed)
    data = tuple(np.log(lower[c].to_numpy(dtype=float)) for c in ("params", "tokens", "loss"))
    axes = (
        (0, 5, 10, 15, 20),
        (0, 5, 10, 15, 20),
        (-1, 0, 0.5, 1),
        (0.2, 0.4, 0.6),
        (0.2, 0.4, 0.6),
    )
    grid = np.array(list(itertools.product(*axes)))  # Epoch's initialisation grid, coarser
    values = np.array([huber_objective(g, *data)[0] for g in grid])
    starts = grid[np.argsort(values)[:4]]  # L-BFGS-B from the 4 best grid points
    best = min((fit_once(s, data) for s in starts), key=lambda r: r[0])[1]
    ln, ld = (np.log(held[c].to_numpy(dtype=float)) for c in ("params", "tokens"))
    out = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(data[0]), len(data[0]))
        sub = tuple(x[idx] for x in data)
        a, b, e, alpha, beta = fit_once(best, sub)[1]

        def lse(x: np.ndarray, y: np.ndarray, a=a, b=b, e=e, al=alpha, be=beta) -> np.ndarray:
            return np.logaddexp(np.logaddexp(a - al * x, b - be * y), e)

        resid = sub[2] - lse(sub[0], sub[1])
        noise = rng.choice(resid, size=(len(held), per_boot))
        out.append(lse(ln, ld)[:, None] + noise)
    return np.concatenate(out, axis=1)


def collect(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[tuple[str, float], Any]]:
    """Every (table, cut, held-out run): noise-only draws, distances; and the fits."""
    spec = load_spec("chinchilla")
    settings = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "random_seed": 1}
    records = []
    fits: dict[tuple[str, float], Any] = {}
    for name, runs in tables(args.porian).items():
        prepared = ScalingModel(spec).prepare(runs)
        flops = prepared["flops"].to_numpy(dtype=float)
        porian_cfg = name.startswith("porian2024")
        cuts = backtest_cuts(prepared, factors=args.porian_factors if porian_cfg else FACTORS)
        if name == "epoch_chinchilla":
            cuts.append(1e20)
        for cut in cuts:
            below = flops <= cut
            lower, held = prepared.loc[below].copy(), prepared.loc[~below].copy()
            lower.attrs = dict(prepared.attrs)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit, hit = cached_fit(spec, lower, settings=settings, cache_dir=args.cache)
            diag = fit.diagnostics()
            at = held[["params", "tokens"]]
            ds = predict(fit, at=at, kind="noise", random_seed=2)
            noise = np.log(ds["loss"].stack(sample=SAMPLE_DIMS).transpose("point", "sample").values)
            sigma = fit.posterior["sigma"].stack(sample=SAMPLE_DIMS).values  # same draw order
            far = distances(fit, {c: held[c].to_numpy(dtype=float) for c in ("params", "tokens")})
            boot = bootstrap_draws(lower, held, args.boot, 20, seed=3)
            factor = flops[~below] / flops[below].max()
            split = "epoch_1e20" if (name == "epoch_chinchilla" and cut == 1e20) else "ladder"
            for i in range(len(held)):
                records.append(
                    {
                        "table": name,
                        "split": split,
                        "cut": cut,
                        "n_fit": len(lower),
                        "factor": factor[i],
                        "flops": flops[~below][i],
                        "loss": float(held["loss"].iloc[i]),
                        **{f"d_{k}": float(far[k][i]) for k in DIRECTIONS},
                        "noise": noise[i],
                        "sigma": sigma,
                        "boot": boot[i],
                        "r_hat_max": diag["r_hat_max"],
                        "divergences": diag["divergences"],
                    }
                )
            if name.startswith("porian2024") and split == "ladder":
                fits[(name, cut)] = (fit, held)
            print(
                f"{name}: cut {cut:.3g}: {len(lower)} fitted, {len(held)} held out, "
                f"R-hat {diag['r_hat_max']:.3f}, {diag['divergences']} div, "
                f"{time.perf_counter() - t0:.1f} s{' (cached)' if hit else ''}",
                flush=True,
            )
    return pd.DataFrame(records), fits


def with_discrepancy(rows: pd.DataFrame, scales: dict[str, float], seed: int = 5) -> np.ndarray:
    """Log-loss draws of the new model: noise-only draws plus the random-slope discrepancy.

    The construction of :mod:`bayescale.analysis.discrepancy` (one slope per direction and
    draw, shared by all rows of one fit, its scale from :func:`~bayescale.analysis.discrepancy.
    scale` with the draw's sigma, times the row's decades outside the fitted range).
    """
    term = Discrepancy(**scales)
    out = np.stack(rows["noise"].to_numpy())
    rng = np.random.default_rng(seed)
    for _, idx in rows.groupby(["table", "cut"]).indices.items():
        z = rng.standard_normal((len(DIRECTIONS), out.shape[1]))
        sigma = rows["sigma"].iloc[idx[0]]
        for j, k in enumerate(DIRECTIONS):
            if term.absolute(k) > 0 or term.per_sigma(k) > 0:
                tau = scale(term, k, sigma)  # (draws,)
                out[idx] += rows[f"d_{k}"].to_numpy()[idx, None] * (tau * z[j])[None, :]
    return out


def interval_scores(draws: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """The 90 % interval score of each row (as :func:`score_draws`, without the rest)."""
    lo, _, hi = np.exp(eti(draws, 0.9, axis=1))
    return (hi - lo + 20.0 * (np.maximum(lo - loss, 0) + np.maximum(loss - hi, 0))) / loss


def scored(rows: pd.DataFrame, draws: np.ndarray, model: str) -> pd.DataFrame:
    s = score_draws(draws, rows["loss"].to_numpy())
    keep = rows[["table", "split", "cut", "n_fit", "factor", "flops", "loss", "r_hat_max"]]
    out = pd.concat([keep.reset_index(drop=True), s], axis=1)
    out.insert(1, "model", model)
    out.insert(2, "factor_bin", factor_bin(out["factor"].to_numpy()))
    return out


def source_of(table: str) -> str:
    """The publication a table comes from (porian2024's configurations share training runs)."""
    return table.split(":")[0]


def source_weighted(per_table: pd.Series) -> float:
    """Mean over sources of the mean over each source's tables (every source weighs the same)."""
    by_source = per_table.groupby([source_of(str(t)) for t in per_table.index]).mean()
    return float(by_source.mean())


def calibrate(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Leave-one-source-out choice of the scales; the new model's rows and the choices.

    Every table of a source (all porian2024 configurations together, as they share training
    runs) is scored with the scales that minimise the source-weighted mean 90 % interval score
    of the *other* sources' ladder cuts; ``"<all>"`` is the choice over every source.
    """
    ladder = rows.loc[rows["split"] == "ladder"].reset_index(drop=True)
    names = list(GRID)
    grid = list(itertools.product(*GRID.values()))
    per_table = {}
    loss = ladder["loss"].to_numpy()
    for values in grid:
        draws = with_discrepancy(ladder, dict(zip(names, values, strict=True)))
        per_table[values] = pd.Series(interval_scores(draws, loss)).groupby(ladder["table"]).mean()
    score = pd.DataFrame(per_table).T  # grid point x table
    sources = sorted({source_of(str(t)) for t in score.columns})
    choices: dict[str, dict[str, float]] = {}
    for src in sources:
        others = [t for t in score.columns if source_of(str(t)) != src]
        totals = score[others].apply(source_weighted, axis=1)
        choices[src] = dict(zip(names, totals.idxmin(), strict=True))
    best = score.apply(source_weighted, axis=1).idxmin()
    choices["<all>"] = dict(zip(names, best, strict=True))
    pieces = []
    for t, g in rows.groupby("table"):
        g = g.reset_index(drop=True)
        pieces.append(scored(g, with_discrepancy(g, choices[source_of(str(t))]), "new"))
    return pd.concat(pieces, ignore_index=True), choices


def optimum_rows(
    fits: dict[tuple[str, float], Any], choices: dict[str, dict[str, float]]
) -> pd.DataFrame:
    """Observed optimal N of each held-out isoFLOP budget against today's and the new interval."""
    out = []
    for (name, cut), (fit, held) in fits.items():
        today = optimum_scores(fit, held, kind="mean")
        new = optimum_scores(
            fit, held, kind="predictive", discrepancy=Discrepancy(**choices[source_of(name)])
        )
        out.append(today.assign(table=name, cut=cut, model="today"))
        out.append(new.assign(table=name, cut=cut, model="new"))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", default=".cache/backtest")
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--boot", type=int, default=100)
    p.add_argument("--porian", default="all", help="'all', how many configurations, or every:K")
    p.add_argument(
        "--porian-factors",
        type=float,
        nargs="+",
        default=[30.0],
        help="cuts of each porian configuration (default one cut at 30x: its held-out runs "
        "span every factor bin; 15 configurations x 3 cuts is too slow for a 2-core machine)",
    )
    p.add_argument("--out", default=".cache/backtest/results")
    args = p.parse_args()
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, fits = collect(args)
    rows.to_pickle(out / "collected.pkl")  # draws included, for re-analysis without refitting
    today = scored(rows, np.stack(rows["noise"].to_numpy()), "today")
    boot = scored(rows, np.stack(rows["boot"].to_numpy()), "bootstrap")
    new, choices = calibrate(rows)
    every = pd.concat([today, boot, new], ignore_index=True)
    every.to_csv(out / "rows.csv", index=False)
    ladder = every.loc[every["split"] == "ladder"]
    pd.set_option("display.width", 200)
    print("\nleave-one-source-out scales (per decade outside the fitted range) per source:")
    for t, c in choices.items():
        print(f"  {t}: " + ", ".join(f"{k} {v:g}" for k, v in c.items()))
    summ = summarize_backtest(ladder, by=("table", "model", "factor_bin"))
    summ.to_csv(out / "summary.csv", index=False)
    by = ("table", "model", "factor_bin")
    pooled = summarize_backtest(ladder.assign(factor_bin="all"), by=by)
    pooled.to_csv(out / "summary_pooled.csv", index=False)
    cols = ["table", "model", "factor_bin", "n", "coverage_50", "coverage_90"]
    cols += ["interval_score_90", "median_abs_rel_error", "mean_width_90", "bias"]
    print("\npooled over tables, by factor:")
    print(summ.loc[summ["table"] == "all", cols].to_string(index=False, float_format="%.4f"))
    print("\nper table, all factors (3x, 10x, 30x bins; the 1x bin excluded):")
    far = ladder.loc[ladder["factor_bin"] > 1].assign(factor_bin="3-30")
    per = summarize_backtest(far, by=("table", "model", "factor_bin"))
    per.to_csv(out / "summary_per_table.csv", index=False)
    print(per[cols].to_string(index=False, float_format="%.4f"))
    print("\nsource-weighted mean interval score (3-30x):")
    for m, g in far.groupby("model"):
        print(f"  {m}: {source_weighted(g.groupby('table')['interval_score_90'].mean()):.4f}")
    epoch = every.loc[every["split"] == "epoch_1e20"]
    epoch = epoch.loc[epoch["flops"] > 1e21]
    print("\nepoch_chinchilla, fit C <= 1e20, runs above 1e21:")
    for m, g in epoch.groupby("model"):
        print(
            f"  {m}: {int(g.inside_90.sum())} of {len(g)} inside the 90% band; "
            f"mean width {g.width_90.mean():.2%}; "
            f"median |rel error| {g.rel_error.abs().median():.2%}"
        )
    print("\nper table, epoch split included (model new uses the table's leave-out scales):")
    per_all = summarize_backtest(
        every.assign(table=every["table"] + ":" + every["split"], factor_bin="all"),
        by=("table", "model", "factor_bin"),
    )
    print(per_all[cols].to_string(index=False, float_format="%.4f"))
    opt = optimum_rows(fits, choices)
    if len(opt):
        opt.to_csv(out / "optimum.csv", index=False)
        for m, g in opt.groupby("model", sort=False):
            top = g.loc[g["cut"] == g.groupby("table")["cut"].transform("min")]
            top = top.loc[top["flops"] == top.groupby("table")["flops"].transform("max")]
            width = np.log10(g["params_opt_upper"] / g["params_opt_lower"]).mean()
            print(
                f"\ncompute-optimal N inside the 90% allocate interval ({m}): top held-out "
                f"budget {int(top.inside.sum())} of {len(top)} porian configurations; all "
                f"held-out budgets {int(g.inside.sum())} of {len(g)}; mean width "
                f"{width:.2f} decades"
            )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
