"""Speed and memory of the analysis layer on 4,000 posterior draws (4 chains x 1,000).

- allocations for 1,000 FLOP budgets x 4,000 draws (closed form; target <= 1 s), and the
  vectorised numerical optimum on the same problem for comparison;
- loss bands on a 200 x 200 (N, D) grid x 4,000 draws (160 million law evaluations), summarised
  chunk by chunk so memory stays bounded: time and peak traced memory.

Usage::

    .venv/bin/python benchmarks/analysis_speed.py [--fit FIT.nc] [--repeat 3]

Without ``--fit`` it uses a fake Chinchilla posterior of the same shape (timings do not depend on
the values). Peak memory is measured with ``tracemalloc`` (numpy reports its buffers to it).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(func: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall-clock time and the CPU time of that run (the machine may be shared)."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = func()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    return best, cpu, out


def peak_memory(func: Callable[[], Any]) -> tuple[float, float, float, Any]:
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    out = func()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, cpu, peak / 2**20, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", help="a saved fit (default: fake 4 x 1000 Chinchilla posterior)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budgets", type=int, default=1000)
    parser.add_argument("--grid", type=int, default=200)
    args = parser.parse_args()

    from bayescale.analysis.allocate import allocate
    from bayescale.analysis.predict import bands

    if args.fit:
        from bayescale.modeling.fit import load_fit

        fit = load_fit(args.fit)
    else:
        from bayescale.testing import fake_fit

        fit = fake_fit("chinchilla", chains=4, draws=1000)
    n_draws = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    flops = np.geomspace(1e18, 1e27, args.budgets)
    print(f"posterior: {n_draws} draws ({'saved fit ' + args.fit if args.fit else 'fake'})")

    t_closed, c_closed, ds = timed(lambda: allocate(fit, flops=flops), args.repeat)
    print(
        f"allocate, closed form: {args.budgets} budgets x {n_draws} draws in {t_closed:.3f} s "
        f"wall, {c_closed:.3f} s CPU (best of {args.repeat}; target <= 1 s)"
    )
    t_num, c_num, dn = timed(lambda: allocate(fit, flops=flops, method="numeric"), 1)
    rel = float(np.abs(dn["params_opt"] / ds["params_opt"] - 1).max())
    print(
        f"allocate, numerical optimum: same problem in {t_num:.2f} s wall, {c_num:.2f} s CPU "
        f"(max relative difference in N_opt vs closed form {rel:.1e})"
    )

    n = np.geomspace(1e8, 1e12, args.grid)
    d = np.geomspace(1e9, 1e13, args.grid)
    t_band, c_band, peak, table = peak_memory(lambda: bands(fit, params=n, tokens=d, grid=True))
    full = args.grid**2 * n_draws * 8 / 2**20
    print(
        f"bands: {args.grid}x{args.grid} grid x {n_draws} draws in {t_band:.2f} s wall, "
        f"{c_band:.2f} s CPU, "
        f"peak traced memory {peak:.0f} MiB (all draws at once would need {full:.0f} MiB); "
        f"{len(table)} rows"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
