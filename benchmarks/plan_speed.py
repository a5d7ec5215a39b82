"""How long ``bayescale plan`` takes on a real fit: epoch_chinchilla restricted to C <= 1e20.

Fits Chinchilla's law to the rows of Besiroglu et al.'s table (``epoch_chinchilla``) with
C = 6·N·D <= 1e20 (or reuses ``--fit``), then times, in this process, ``bayescale plan`` on
that fit (target 100x the largest fitted run, budget the fitted runs' total compute, the
default isoFLOP grid of 30 candidates, 64 replicates, up to 1000 draws) against
``bayescale allocate`` on the same fit as the baseline. Issue 19's target: a ranked list in
under 60 s on the development machine. Prints one JSON object with the load average.

Run: ``python benchmarks/plan_speed.py [--fit FIT.nc] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _fit(path: Path, draws: int) -> None:
    import bayescale as bs

    runs = bs.load_dataset("epoch_chinchilla")
    runs = runs.loc[6 * runs["params"] * runs["tokens"] <= 1e20].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.ScalingModel(law="chinchilla").fit(runs, draws=draws, tune=draws, random_seed=0)
    fit.save(path)


def _time(argv: list[str]) -> float:
    from bayescale.cli import main

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    elapsed = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fit", type=Path, default=None, help="reuse (or write) this fit file")
    p.add_argument("--draws", type=int, default=1000, help="draws and tune per chain of the fit")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    path = args.fit or Path(tempfile.mkdtemp()) / "epoch_le_1e20.nc"
    t0 = time.perf_counter()
    if not path.exists():
        _fit(path, args.draws)
    fit_s = time.perf_counter() - t0
    from bayescale.modeling.fit import load_fit

    fit = load_fit(path)
    top = float((fit.runs["params"] * fit.runs["tokens"]).max() * 6)
    total = float((fit.runs["params"] * fit.runs["tokens"]).sum() * 6)
    plan_args = [
        "plan",
        str(path),
        "--target-flops",
        f"{100 * top:g}",
        "--budget",
        f"{total:g}",
        "--quiet",
    ]
    alloc_args = ["allocate", str(path), "--flops", f"{100 * top:g}", "--quiet"]
    _time(alloc_args)  # warm imports for both
    plan_s = [_time(plan_args) for _ in range(args.repeats)]
    alloc_s = [_time(alloc_args) for _ in range(args.repeats)]
    out = {
        "runs": len(fit.runs),
        "draws": int(fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]),
        "fit_s": round(fit_s, 1),
        "plan_s": [round(t, 2) for t in plan_s],
        "allocate_s": [round(t, 2) for t in alloc_s],
        "plan_over_allocate": round(min(plan_s) / min(alloc_s), 1),
        "under_60_s": max(plan_s) < 60,
        "loadavg": os.getloadavg(),
        "command": "bayescale " + " ".join(plan_args),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
