"""Speed of a Chinchilla fit on Epoch's table against an Epoch-style frequentist baseline.

Baseline (in this process): scipy L-BFGS-B with an analytic gradient on the summed Huber loss
(delta = 1e-3) of log loss in Epoch's log-sum-exp form, from 100 starts drawn from Epoch's grid,
then 1,000 bootstrap refits warm-started at the best point, with tight tolerances.

bayescale: the CLI fit (`bayescale fit --data epoch_chinchilla --law chinchilla`) in a fresh
process at the default settings (4 chains x 1000 draws; imports, compilation, log-likelihood and
saving included), then a warm fit in this process (the second fit of the same model).

Targets (issue 2): cold fit <= 0.3 x baseline wall time; warm sampling <= 3 s; R-hat <= 1.01,
ESS_bulk >= 1000, no divergences.

Run: BAYESCALE_DATA=../shared/datasets python benchmarks/fit_speed.py [--bootstrap 1000]

Paired mode (issue 20): ``--pairs N`` alternates fresh-process runs of the commands named by
``--arm`` and prints per-arm medians of wall and CPU seconds (user + system of the child, all its
threads), each run beside the 1-minute load average, and the ratios of the medians. Arms:

* ``bayescale``: ``bayescale fit --data epoch_chinchilla --law chinchilla`` with this checkout
  (warm disk caches);
* ``bayescale-empty``: the same with empty numba and PyTensor caches (a first fit of a spec);
* ``tree=PATH``: the same fit with another checkout's code (``PYTHONPATH=PATH``), e.g. the
  commit before the fast path, for "today's cached fit";
* ``peer=BIN``: simple-scaling-laws' ``fit`` + ``allocate`` + ``predict`` on the same 240 points
  (``BIN`` is its ``scaling-laws`` script, installed in its own environment, never a dependency
  of bayescale), at its defaults (1,000 bootstrap draws).

    python benchmarks/fit_speed.py --pairs 5 --arm bayescale --arm peer=/tmp/peer/bin/scaling-laws
"""

from __future__ import annotations

import os

# One BLAS thread: the problems are 5-dimensional, and OpenBLAS's spinning threads made the
# baseline's wall time swing between 10 s and 117 s on this shared 2-core machine.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402
from scipy.special import logsumexp, softmax  # noqa: E402

DELTA = 1e-3


def huber_objective(
    theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray
) -> tuple[float, np.ndarray]:
    """Summed Huber loss of log L against LSE(a - alpha log N, b - beta log D, e), and gradient."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    pred = logsumexp(terms, axis=0)
    r = pred - log_l
    small = np.abs(r) <= DELTA
    loss = np.where(small, 0.5 * r**2, DELTA * (np.abs(r) - 0.5 * DELTA)).sum()
    dr = np.where(small, r, DELTA * np.sign(r))
    w = softmax(terms, axis=0) * dr
    grad = np.array(
        [w[0].sum(), w[1].sum(), w[2].sum(), -(w[0] * log_n).sum(), -(w[1] * log_d).sum()]
    )
    return float(loss), grad


def fit_once(start: np.ndarray, data: tuple[np.ndarray, ...]) -> tuple[float, np.ndarray]:
    res = minimize(
        huber_objective,
        start,
        args=data,
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 20000},
    )
    return float(res.fun), res.x


def baseline(runs, n_starts: int, n_boot: int, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    log_n = np.log(runs["params"].to_numpy())
    log_d = np.log(runs["tokens"].to_numpy())
    log_l = np.log(runs["loss"].to_numpy())
    grid = (
        np.array(
            np.meshgrid(
                np.arange(0, 30, 5),
                np.arange(0, 30, 5),
                np.arange(-1, 1.5, 0.5),
                np.arange(0, 2.5, 0.5),
                np.arange(0, 2.5, 0.5),
                indexing="ij",
            )
        )
        .reshape(5, -1)
        .T
    )  # (a, b, e, alpha, beta): Epoch's / Hoffmann's initialisation grid
    starts = grid[rng.choice(len(grid), n_starts, replace=False)]
    t0 = time.perf_counter()
    best = min((fit_once(s, (log_n, log_d, log_l)) for s in starts), key=lambda r: r[0])[1]
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(log_n), len(log_n))
        boots.append(fit_once(best, (log_n[idx], log_d[idx], log_l[idx]))[1])
    wall = time.perf_counter() - t0
    boots = np.array(boots)
    est = {
        "A": np.exp(boots[:, 0]),
        "B": np.exp(boots[:, 1]),
        "E": np.exp(boots[:, 2]),
        "alpha": boots[:, 3],
        "beta": boots[:, 4],
    }
    point = dict(
        zip(
            ["A", "B", "E", "alpha", "beta"],
            [np.exp(best[0]), np.exp(best[1]), np.exp(best[2]), best[3], best[4]],
            strict=True,
        )
    )
    return {
        "wall_s": wall,
        "point": {k: float(v) for k, v in point.items()},
        "ci95": {
            k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in est.items()
        },
    }


def cold_fit(out: str) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "bayescale",
        "fit",
        "--data",
        "epoch_chinchilla",
        "--law",
        "chinchilla",
        "--seed",
        "1",
        "--out",
        out,
        "--quiet",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    summ = subprocess.run(
        [sys.executable, "-m", "bayescale", "summary", out, "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {"wall_s": wall, "summary": json.loads(summ.stdout)}


def warm_fit() -> dict[str, object]:
    import bayescale as bs

    runs = bs.load_dataset("epoch_chinchilla")
    model = bs.ScalingModel("chinchilla")
    model.fit(runs, random_seed=1)  # compiles (cached for the next fit)
    t0 = time.perf_counter()
    fit = model.fit(runs, random_seed=2)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "diagnostics": fit.diagnostics()}


def _load1() -> float:
    return os.getloadavg()[0]


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one command."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _bayescale_cmd(out: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bayescale",
        "fit",
        "--data",
        "epoch_chinchilla",
        "--law",
        "chinchilla",
        "--seed",
        "1",
        "--out",
        out,
        "--force",
        "--quiet",
    ]


def _arm_runner(arm: str, tmp: str, runs) -> object:
    """A function running one fresh-process repetition of ``arm``: (wall, cpu)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base_env = dict(os.environ)
    if arm in ("bayescale", "bayescale-empty") or arm.startswith("tree="):
        tree = arm.split("=", 1)[1] if arm.startswith("tree=") else here

        def run_bayescale() -> tuple[float, float]:
            env = dict(base_env, PYTHONPATH=tree)
            if arm == "bayescale-empty":
                cache = tempfile.mkdtemp(dir=tmp)
                env["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")
                env["PYTENSOR_FLAGS"] = f"base_compiledir={os.path.join(cache, 'pytensor')}"
                env["BAYESCALE_CACHE_DIR"] = os.path.join(cache, "bayescale")
            return _timed(_bayescale_cmd(os.path.join(tmp, "fit.nc")), env)

        return run_bayescale
    if arm.startswith("peer="):
        exe = arm.split("=", 1)[1]
        table = os.path.join(tmp, "peer_runs.csv")
        points = os.path.join(tmp, "peer_points.csv")
        import pandas as pd

        pd.DataFrame(
            {
                "training_run_id": runs["run_id"],
                "model_size__params": runs["params"],
                "dataset_size__tokens": runs["tokens"],
                "test_loss__cross_entropy": runs["loss"],
            }
        ).to_csv(table, index=False)
        pd.DataFrame(
            {"model_size__params": [7e10, 1e11, 4e11], "dataset_size__tokens": [1.4e12, 2e12, 8e12]}
        ).to_csv(points, index=False)

        def run_peer() -> tuple[float, float]:
            art = os.path.join(tmp, "peer.slaw")
            import shutil

            shutil.rmtree(art, ignore_errors=True)
            steps = [
                [exe, "fit", table, "--law", "separable-power", "-o", art, "--quiet"],
                [exe, "allocate", art, "--budget", "1e24", "--cost", "power:k=6,a=1,b=1"],
                [exe, "predict", art, points],
            ]
            wall = cpu = 0.0
            for step in steps:
                w, c = _timed(step)
                wall, cpu = wall + w, cpu + c
            return wall, cpu

        return run_peer
    raise SystemExit(f"unknown arm {arm!r}")


def paired(arms: list[str], pairs: int, runs) -> None:
    """Alternate fresh-process runs of each arm; print medians, loads and ratios."""
    import statistics

    results: dict[str, list[tuple[float, float, float]]] = {a: [] for a in arms}
    with tempfile.TemporaryDirectory() as tmp:
        runners = {a: _arm_runner(a, tmp, runs) for a in arms}
        for a in arms:  # one untimed run each: warm disk caches (except the empty arm's)
            runners[a]()  # type: ignore[operator]
        for i in range(pairs):
            order = arms if i % 2 == 0 else arms[::-1]
            for a in order:
                load = _load1()
                wall, cpu = runners[a]()  # type: ignore[operator]
                results[a].append((wall, cpu, load))
                print(f"pair {i + 1} {a}: wall {wall:.2f} s, cpu {cpu:.2f} s, load {load:.2f}")
    med = {
        a: (
            statistics.median(r[0] for r in rs),
            statistics.median(r[1] for r in rs),
            statistics.median(r[2] for r in rs),
        )
        for a, rs in results.items()
    }
    for a, (w, c, load) in med.items():
        print(f"median {a}: wall {w:.2f} s, cpu {c:.2f} s (load median {load:.2f})")
    ref = arms[-1]
    for a in arms[:-1]:
        print(
            f"ratio {a} / {ref}: wall {med[a][0] / med[ref][0]:.2f}, "
            f"cpu {med[a][1] / med[ref][1]:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, help="paired mode: repetitions per arm")
    parser.add_argument("--arm", action="append", default=[], help="paired mode: an arm")
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument(
        "--only", choices=["baseline"], help="run only the baseline (for whole-process timing)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import bayescale as bs

    runs = bs.load_dataset("epoch_chinchilla")
    runs = runs.loc[~runs["outlier"]]
    if args.pairs:
        paired(args.arm or ["bayescale"], args.pairs, runs)
        return
    base = baseline(runs, args.starts, args.bootstrap)
    if args.only == "baseline":
        print(f"baseline: {base['wall_s']:.1f} s")
        return
    print(
        f"baseline (L-BFGS-B, {args.starts} starts + {args.bootstrap} bootstraps): "
        f"{base['wall_s']:.1f} s"
    )
    for k, (lo, hi) in base["ci95"].items():  # type: ignore[union-attr]
        print(f"  {k:6s} point {base['point'][k]:10.4g}  95% [{lo:.4g}, {hi:.4g}]")  # type: ignore[index]
    with tempfile.TemporaryDirectory() as tmp:
        cold = cold_fit(os.path.join(tmp, "fit.nc"))
    print(
        f"bayescale cold CLI fit (fresh process, 4x1000): {cold['wall_s']:.1f} s "
        f"= {cold['wall_s'] / base['wall_s']:.2f} x baseline (target <= 0.30)"
    )
    worst_rhat = max(v["r_hat"] for v in cold["summary"].values())  # type: ignore[union-attr]
    min_ess = min(v["ess_bulk"] for v in cold["summary"].values())  # type: ignore[union-attr]
    for k in ("E", "A", "B", "alpha", "beta"):
        v = cold["summary"][k]  # type: ignore[index]
        print(
            f"  {k:6s} median {v['median']:10.4g}  90% [{v['lower']:.4g}, {v['upper']:.4g}]"
            f"  r_hat {v['r_hat']:.3f}  ess_bulk {v['ess_bulk']:.0f}"
        )
    print(f"  max R-hat {worst_rhat:.3f}, min ESS_bulk {min_ess:.0f}")
    warm = warm_fit()
    d = warm["diagnostics"]
    print(
        f"bayescale warm fit (same process, compiled): {warm['wall_s']:.2f} s (target <= 3 s); "
        f"max R-hat {d['r_hat_max']:.3f}, min ESS_bulk {d['ess_bulk_min']:.0f}, "  # type: ignore[index]
        f"divergences {d['divergences']}"
    )  # type: ignore[index]


if __name__ == "__main__":
    main()
