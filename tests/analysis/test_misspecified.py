"""Predictive bands when the fitted law is not the true one (issue 14's simulation acceptance).

Each replicate draws a ladder of 25 runs over one decade of N (5 sizes × 5 tokens per
parameter, 1 % log-normal noise) from a law that is *not* Chinchilla's, fits the bundled
``chinchilla`` spec (its calibrated discrepancy included) and checks whether one new run at
10× the largest fitted compute (20 tokens per parameter, drawn with the same noise) lands in
the 90 % ``kind="predictive"`` band. The true laws, chosen before looking at any result:

- ``broken``: a broken power law in N, the N term steepening by 0.15 in exponent past a break
  at N_b = 1e9 (smooth over a factor of a few), i.e. mostly *beyond* the fitted sizes;
- ``data_constrained``: Muennighoff et al.'s effective data D' with 1e10 unique tokens
  (R* = 15.4), so the larger runs repeat data 1.5–3.8 times;
- ``curved``: Chinchilla times exp(κ·(log10 C − c0)²), κ = 0.003, c0 the middle of the fitted
  log-compute range: a slowly bending log-log trend.

Parameters vary by replicate (E, α, β, A, B jittered around Besiroglu et al.'s estimates).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayescale.analysis.predict import predict
from bayescale.constants import SAMPLE_DIMS
from bayescale.exceptions import ConvergenceWarning
from bayescale.intervals import eti
from bayescale.laws import chinchilla_loss, effective_data
from bayescale.modeling.model import ScalingModel

LAWS = ("broken", "data_constrained", "curved")
REPLICATES = 40
SIZES = np.geomspace(3e7, 3e8, 5)  # one decade of N
RATIOS = np.array([5.0, 10.0, 20.0, 40.0, 80.0])  # tokens per parameter
NOISE = 0.01
SETTINGS = {"draws": 250, "tune": 300, "chains": 2}


def _truth(kind: str, n: np.ndarray, d: np.ndarray, theta: dict[str, float], c0: float):
    if kind == "broken":
        n_b, delta, s = 1e9, 0.15, 0.5
        n_term = theta["A"] / n ** theta["alpha"] * (1 + (n / n_b) ** (1 / s)) ** (-delta * s)
        return theta["E"] + n_term + theta["B"] / d ** theta["beta"]
    if kind == "data_constrained":
        d_eff = np.where(d > 1e10, effective_data(np.maximum(d, 1e10), 1e10, R_star=15.4), d)
        return chinchilla_loss(n, d_eff, **theta)
    if kind == "curved":
        log_c = np.log10(6 * n * d)
        return chinchilla_loss(n, d, **theta) * np.exp(0.003 * (log_c - c0) ** 2)
    raise ValueError(kind)


def _replicate(i: int) -> tuple[str, bool, float, float]:
    kind = LAWS[i % len(LAWS)]
    rng = np.random.default_rng(1000 + i)
    theta = {
        "E": 1.82 + rng.uniform(-0.1, 0.1),
        "A": 482.0 * np.exp(rng.uniform(-0.3, 0.3)),
        "B": 2085.0 * np.exp(rng.uniform(-0.3, 0.3)),
        "alpha": 0.35 + rng.uniform(-0.04, 0.04),
        "beta": 0.37 + rng.uniform(-0.04, 0.04),
    }
    n, r = (a.ravel() for a in np.meshgrid(SIZES, RATIOS, indexing="ij"))
    d = n * r
    log_c = np.log10(6 * n * d)
    c0 = 0.5 * (log_c.min() + log_c.max())
    loss = _truth(kind, n, d, theta, c0) * np.exp(NOISE * rng.standard_normal(n.size))
    runs = pd.DataFrame({"params": n, "tokens": d, "loss": loss})
    c_new = 10 * float((6 * n * d).max())
    n_new = np.sqrt(c_new / (6 * 20.0))
    d_new = 20.0 * n_new
    truth = _truth(kind, np.array([n_new]), np.array([d_new]), theta, c0)
    y_new = float(truth[0] * np.exp(NOISE * rng.standard_normal()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # scored as it comes
        fit = ScalingModel("chinchilla").fit(runs, random_seed=i + 1, **SETTINGS)
    ds = predict(fit, params=n_new, tokens=d_new, kind="predictive", random_seed=i + 1)
    draws = np.log(ds["loss"].stack(sample=SAMPLE_DIMS).values.ravel())
    lo, _, hi = eti(draws, 0.9)
    inside = bool(lo <= np.log(y_new) <= hi)
    return kind, inside, float(np.exp(hi) - np.exp(lo)) / y_new, fit.diagnostics()["r_hat_max"]


@pytest.mark.slow
def test_predictive_band_holds_at_10x_compute_under_the_wrong_law():
    rows = [_replicate(i) for i in range(REPLICATES)]
    table = pd.DataFrame(rows, columns=["law", "inside", "width", "r_hat"])
    summary = table.groupby("law").agg(
        n=("inside", "size"), inside=("inside", "mean"), width=("width", "mean")
    )
    print("\n" + summary.to_string(float_format="%.3f"))
    rate, width = table["inside"].mean(), table["width"].mean()
    print(f"all: {rate:.3f} of {len(table)} inside; mean width {width:.3f}")
    assert table["inside"].mean() >= 0.85
