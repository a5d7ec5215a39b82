"""Convergence battery: do the default Chinchilla and Kaplan fits converge on small tables?

Fits ``chinchilla`` and ``kaplan`` at their default sampler settings (4 chains x 1,000 draws
after 1,000 tuning steps) with seeds 1-5 on:

- ``misfitting2025`` final runs (best learning rate per (N, D), as in ``benchmarks/backtest.py``):
  the runs with N <= 300M (``misfitting2025:N<=3e8``) and all of them;
- ``epoch_chinchilla`` subsets: C <= 1e19, C <= 1e20 and N <= 500M (outliers excluded);
- every ``porian2024`` configuration in the parametric view (every isoFLOP point as a run);
- ``runner_cpu``;
- synthetic 5 x 5 ladders over one decade of N (``synthetic:5x5``): N = 1e8 ... 1e9 (5 sizes,
  log-spaced), 5 token counts per size at 5-80 tokens per parameter, drawn from Epoch's
  Chinchilla estimates with 1 % log-normal noise; ladder seed = fit seed.

Criteria (issue 14): R-hat <= 1.01, bulk ESS >= 400 and no divergences, over every parameter of
the summary (the law's parameters and sigma). The tidy table (one row per spec, table and seed)
is appended to ``--out`` as each fit ends, so an interrupted battery keeps what it did; a
rerun skips the rows already there. ``--markdown`` prints the summary table of
docs/convergence.md from the CSV.

Kaplan's law is defined on non-embedding parameter counts; it is fitted here to the same tables
as Chinchilla (mostly total counts) because the battery measures convergence, not the law's
validity (the ConventionWarning is silenced).

Run: BAYESCALE_DATA=../shared/datasets python benchmarks/convergence.py --out conv.csv
     [--specs chinchilla,kaplan] [--seeds 1,2,3,4,5] [--tables misfitting,synthetic]
     [--draws N --tune N --chains N]
     python benchmarks/convergence.py --markdown conv.csv
     python benchmarks/convergence.py --paired epoch_chinchilla:all [--repeats 3]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

RHAT_MAX = 1.01
ESS_MIN = 400
COLUMNS = [
    "spec",
    "table",
    "seed",
    "runs",
    "draws",
    "chains",
    "r_hat_max",
    "ess_bulk_min",
    "ess_tail_min",
    "divergences",
    "passed",
    "worst",
    "wall_s",
]


def synthetic_ladder(seed: int, noise: float = 0.01) -> pd.DataFrame:
    """A 5 x 5 ladder over one decade of N (1e8-1e9), 5-80 tokens per parameter."""
    from bayescale.data.schema import validate_runs
    from bayescale.laws import get_law
    from bayescale.testing import TRUE_VALUES

    rng = np.random.default_rng(seed)
    n = np.repeat(np.logspace(8, 9, 5), 5)
    d = n * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 5)
    law = get_law("chinchilla")
    mean = law(params=n, tokens=d, **TRUE_VALUES["chinchilla"])
    loss = mean * np.exp(noise * rng.standard_normal(n.size))
    frame = pd.DataFrame({"params": n, "tokens": d, "flops": 6 * n * d, "loss": loss})
    return validate_runs(frame)


def misfitting_final() -> pd.DataFrame:
    """misfitting2025's final runs: the best learning rate per (N, D), outliers excluded."""
    import bayescale as bs

    mis = bs.load_dataset("misfitting2025")
    mis = mis.loc[~mis["outlier"]]
    best = mis.loc[mis.groupby(["params", "tokens"])["loss"].idxmin()]
    best = best.drop(columns=["run"]).copy()  # clashes with the fit's 'run' dim
    best.attrs = dict(mis.attrs)
    return best


def _subset(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    out = frame.loc[mask].copy()
    out.attrs = dict(frame.attrs)
    return out


def _fixed(table: pd.DataFrame) -> Callable[[int], pd.DataFrame]:
    """The same table whatever the seed."""
    return lambda _seed: table


def battery_tables(
    groups: set[str] | None = None,
) -> Iterator[tuple[str, Callable[[int], pd.DataFrame]]]:
    """``(name, seed -> table)`` of every table in the battery (``groups`` filters by prefix)."""
    import bayescale as bs
    from bayescale.data.loaders import porian_config

    def want(name: str) -> bool:
        return groups is None or name.split(":")[0] in groups

    if want("synthetic"):
        yield "synthetic:5x5", synthetic_ladder
    if want("misfitting2025"):
        mis = misfitting_final()
        small = _subset(mis, mis["params"] <= 3e8)
        yield "misfitting2025:N<=3e8", _fixed(small)
        yield "misfitting2025:all", _fixed(mis)
    if want("epoch_chinchilla"):
        ep = bs.load_dataset("epoch_chinchilla")
        ep = _subset(ep, ~ep["outlier"])
        for name, mask in (
            ("C<=1e19", ep["flops"] <= 1e19),
            ("C<=1e20", ep["flops"] <= 1e20),
            ("N<=5e8", ep["params"] <= 5e8),
        ):
            yield f"epoch_chinchilla:{name}", _fixed(_subset(ep, mask))
    if want("runner_cpu"):
        yield "runner_cpu", _fixed(bs.load_dataset("runner_cpu"))
    if want("porian2024"):
        por = bs.load_dataset("porian2024")
        for c in sorted(por["config"].unique()):
            yield f"porian2024:{c}", _fixed(porian_config(por, c))


def fit_row(
    spec: str, table: str, runs: pd.DataFrame, seed: int, sampler: dict[str, int]
) -> dict[str, object]:
    """Fit ``spec`` to ``runs`` and return the battery's row."""
    import bayescale as bs
    from bayescale.exceptions import ConventionWarning, ConvergenceWarning

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", ConventionWarning)
        fit = bs.ScalingModel(spec).fit(runs, random_seed=seed, **sampler)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    d = fit.diagnostics()
    summ = fit.summary()
    worst = str(summ["r_hat"].idxmax()) if np.isfinite(summ["r_hat"]).all() else "nan"
    passed = d["r_hat_max"] <= RHAT_MAX and d["ess_bulk_min"] >= ESS_MIN and d["divergences"] == 0
    return {
        "spec": spec,
        "table": table,
        "seed": seed,
        "runs": len(fit.runs),
        "draws": d["draws"],
        "chains": d["chains"],
        "r_hat_max": round(d["r_hat_max"], 4),
        "ess_bulk_min": round(d["ess_bulk_min"], 1),
        "ess_tail_min": round(d["ess_tail_min"], 1),
        "divergences": d["divergences"],
        "passed": bool(passed),
        "worst": worst,
        "wall_s": round(wall, 1),
    }


def markdown(path: Path) -> str:
    """The summary table of docs/convergence.md: one line per spec and table, over the seeds."""
    rows = pd.read_csv(path)
    lines = [
        "| spec | table | runs | seeds | passed | worst R-hat | min bulk ESS | divergences |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (spec, table), g in rows.groupby(["spec", "table"], sort=False):
        lines.append(
            f"| {spec} | {table} | {int(g['runs'].iloc[0])} | "
            f"{','.join(str(s) for s in g['seed'])} | {int(g['passed'].sum())}/{len(g)} | "
            f"{g['r_hat_max'].max():.3f} | {g['ess_bulk_min'].min():.0f} | "
            f"{int(g['divergences'].sum())} |"
        )
    total = len(rows)
    lines.append("")
    lines.append(f"{int(rows['passed'].sum())} of {total} fits pass all three criteria.")
    return "\n".join(lines)


def paired(table: str, repeats: int) -> str:
    """Warm fits in the anchored and the reference geometry, alternated, on one table.

    Both geometries are compiled first (one fit each), then fitted ``repeats`` times each in
    turn (ABAB...) with the same seeds, so that both see the same machine load. Returns the
    timings, their ratio and the two posteriors' medians and 90 % intervals side by side.
    """
    import bayescale as bs
    from bayescale.modeling.spec import load_spec

    tables = dict(battery_tables({table.split(":")[0]}))
    runs = tables[table](1) if table in tables else _subset(*_epoch_all())
    lines = [f"table {table}: {len(runs)} runs"]
    for spec_name in ("chinchilla", "kaplan"):
        specs = {
            "anchored": load_spec(spec_name),
            "reference": load_spec(spec_name).with_options(geometry="reference"),
        }
        times: dict[str, list[float]] = {k: [] for k in specs}
        fits = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for spec in specs.values():  # compile
                bs.ScalingModel(spec).fit(runs, random_seed=0)
            for i in range(repeats):
                for k, spec in specs.items():
                    t0 = time.perf_counter()
                    fits[k] = bs.ScalingModel(spec).fit(runs, random_seed=i + 1)
                    times[k].append(time.perf_counter() - t0)
        med = {k: float(np.median(v)) for k, v in times.items()}
        lines.append(
            f"{spec_name}: warm fit, median of {repeats}: anchored {med['anchored']:.2f} s, "
            f"reference {med['reference']:.2f} s, ratio {med['anchored'] / med['reference']:.2f}"
            f" (all: anchored {[round(t, 2) for t in times['anchored']]}, reference "
            f"{[round(t, 2) for t in times['reference']]})"
        )
        for k, fit in fits.items():
            d = fit.diagnostics()
            lines.append(
                f"  {k:9s} R-hat {d['r_hat_max']:.3f}, bulk ESS {d['ess_bulk_min']:.0f}, "
                f"divergences {d['divergences']}"
            )
        a, r = (fits[k].summary(ci_prob=0.9) for k in ("anchored", "reference"))
        for p in a.index:
            lines.append(
                f"  {p:8s} anchored {a.loc[p, 'median']:.4g} [{a.loc[p, 'lower']:.4g}, "
                f"{a.loc[p, 'upper']:.4g}]  reference {r.loc[p, 'median']:.4g} "
                f"[{r.loc[p, 'lower']:.4g}, {r.loc[p, 'upper']:.4g}]"
            )
    return "\n".join(lines)


def _epoch_all() -> tuple[pd.DataFrame, pd.Series]:
    import bayescale as bs

    ep = bs.load_dataset("epoch_chinchilla")
    return ep, ~ep["outlier"]


def main() -> int:
    """Run the battery (or print its Markdown summary)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="tidy CSV, appended to as fits end")
    parser.add_argument("--specs", default="chinchilla,kaplan")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument(
        "--tables",
        help="comma-separated table groups (synthetic, misfitting2025, epoch_chinchilla, "
        "runner_cpu, porian2024); default all",
    )
    parser.add_argument("--draws", type=int)
    parser.add_argument("--tune", type=int)
    parser.add_argument("--chains", type=int)
    parser.add_argument("--markdown", type=Path, help="print the summary of this CSV and exit")
    parser.add_argument(
        "--paired",
        metavar="TABLE",
        help="time warm fits in the anchored and the reference geometry on TABLE (a battery "
        "table, or epoch_chinchilla:all) and compare the posteriors, then exit",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.markdown is not None:
        print(markdown(args.markdown))
        return 0
    if args.paired:
        print(paired(args.paired, args.repeats))
        return 0
    if args.out is None:
        parser.error("--out is required")
    sampler = {k: v for k in ("draws", "tune", "chains") if (v := getattr(args, k)) is not None}
    seeds = [int(s) for s in args.seeds.split(",")]
    specs = args.specs.split(",")
    groups = set(args.tables.split(",")) if args.tables else None
    done: set[tuple[str, str, int]] = set()
    if args.out.exists():
        prev = pd.read_csv(args.out)
        done = {(r.spec, r.table, int(r.seed)) for r in prev.itertuples()}
    new = not args.out.exists()
    with args.out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for table, make in battery_tables(groups):
            for spec in specs:
                for seed in seeds:
                    if (spec, table, seed) in done:
                        continue
                    row = fit_row(spec, table, make(seed), seed, sampler)
                    writer.writerow(row)
                    fh.flush()
                    print(
                        f"{spec:10s} {table:45s} seed {seed}: R-hat {row['r_hat_max']:.3f} "
                        f"ESS {row['ess_bulk_min']:.0f} div {row['divergences']} "
                        f"{'ok' if row['passed'] else 'FAIL'} ({row['wall_s']} s)",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
