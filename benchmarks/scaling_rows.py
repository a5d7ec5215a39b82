"""Fit time, peak memory and file size of a Chinchilla fit against the number of runs.

Each size is fitted in a fresh process (imports and compilation included, as a user's
``bayescale fit`` would), on a simulated table of that many runs drawn from the Chinchilla law
with Epoch's values and 1 % noise (``bayescale.testing.synthetic_runs``), at the given sampler
settings (default: the bundled spec's, 4 chains x 1,000 tuning + 1,000 draws). A size that has
not finished within ``--timeout`` seconds is reported as such (its time is a lower bound).
The growth exponent between two sizes is ``log(t2 / t1) / log(n2 / n1)``.

Run: python benchmarks/scaling_rows.py [--sizes 1000 10000 100000] [--timeout 600]
     [--draws D --tune T --chains C] [--json results.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def one(n: int, draws: int | None, tune: int | None, chains: int | None, out: str) -> None:
    """Fit ``n`` simulated runs in this process and print one JSON line of measurements."""
    import resource
    import warnings

    from bayescale.exceptions import ConvergenceWarning
    from bayescale.modeling.model import ScalingModel
    from bayescale.testing import synthetic_runs

    runs = synthetic_runs("chinchilla", n=n, noise=0.01, seed=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = ScalingModel("chinchilla").fit(
            runs, draws=draws, tune=tune, chains=chains, random_seed=1
        )
    t1 = time.perf_counter()
    fit.save(out)
    t2 = time.perf_counter()
    d = fit.diagnostics()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    print(
        json.dumps(
            {
                "runs": n,
                "fit_s": round(t1 - t0, 1),
                "save_s": round(t2 - t1, 1),
                "peak_rss_mib": round(peak),
                "file_mib": round(Path(out).stat().st_size / 2**20, 1),
                "log_likelihood_stored": "log_likelihood" in fit.tree.children,
                "chains": d["chains"],
                "draws": d["draws"],
                "r_hat_max": round(d["r_hat_max"], 3),
                "ess_bulk_min": round(d["ess_bulk_min"]),
                "divergences": d["divergences"],
            }
        ),
        flush=True,
    )


def measure(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`one` in a fresh process; a timeout gives a lower bound on the time."""
    out = Path(args.workdir) / f"scaling_{n}.nc"
    cmd = [sys.executable, __file__, "--one", str(n), "--out", str(out)]
    for name in ("draws", "tune", "chains"):
        if getattr(args, name) is not None:
            cmd += [f"--{name}", str(getattr(args, name))]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"runs": n, "finished": False, "wall_s": round(time.perf_counter() - t0, 1)}
    finally:
        out.unlink(missing_ok=True)
    if done.returncode != 0:
        raise SystemExit(f"{n} runs failed:\n{done.stderr[-2000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row.update(finished=True, wall_s=round(time.perf_counter() - t0, 1))
    return row


def exponents(rows: list[dict[str, Any]], key: str) -> list[str]:
    """Growth exponents of ``key`` between consecutive finished sizes."""
    out = []
    for a, b in itertools.pairwise(rows):
        if a.get("finished") and b.get("finished") and a[key] > 0 and b[key] > 0:
            k = math.log(b[key] / a[key]) / math.log(b["runs"] / a["runs"])
            out.append(f"{a['runs']}->{b['runs']}: {k:.2f}")
        elif a.get("finished") and a["wall_s"] > 0:  # b timed out: a lower bound
            k = math.log(b["wall_s"] / a["wall_s"]) / math.log(b["runs"] / a["runs"])
            out.append(f"{a['runs']}->{b['runs']}: >= {k:.2f} (wall time; unfinished)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per size")
    p.add_argument("--draws", type=int)
    p.add_argument("--tune", type=int)
    p.add_argument("--chains", type=int)
    p.add_argument("--workdir", default="/tmp")
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        one(args.one, args.draws, args.tune, args.chains, args.out)
        return
    rows = []
    for n in args.sizes:
        row = measure(n, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("growth exponent of wall time:", "; ".join(exponents(rows, "wall_s")))
    print(
        "growth exponent of peak memory:",
        "; ".join(exponents([r for r in rows if r.get("finished")], "peak_rss_mib")),
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
