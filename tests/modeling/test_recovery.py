"""Slow checks: parameter recovery on synthetic tables and reproduction of Epoch's fit."""

import warnings

import numpy as np
import pytest

import bayescale as bs
from bayescale.exceptions import ConvergenceWarning
from bayescale.testing import EPOCH_ESTIMATES, simulate_runs

pytestmark = pytest.mark.slow

PARAMS = ("E", "A", "B", "alpha", "beta")


def test_chinchilla_90pct_intervals_cover_truth_in_85pct_of_40_replicates():
    model = bs.ScalingModel("chinchilla")
    hits = dict.fromkeys(PARAMS, 0)
    for seed in range(40):
        runs = simulate_runs(n=80, noise=0.02, seed=1000 + seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = model.fit(runs, draws=500, tune=500, chains=2, random_seed=seed)
        table = fit.summary(ci_prob=0.9)
        for p in PARAMS:
            hits[p] += table.loc[p, "lower"] <= EPOCH_ESTIMATES[p] <= table.loc[p, "upper"]
    coverage = {p: h / 40 for p, h in hits.items()}
    print("coverage of 90% intervals over 40 replicates:", coverage)
    assert all(c >= 0.85 for c in coverage.values()), coverage


def test_epoch_reproduction_at_default_settings(epoch_runs):
    """Issue 2 acceptance: medians inside Epoch's 95% bootstrap intervals, clean diagnostics."""
    fit = bs.ScalingModel("chinchilla").fit(epoch_runs, random_seed=1)
    table = fit.summary()
    bounds = {
        "E": (1.769, 1.871),
        "A": (285.0, 744.0),
        "B": (1042.0, 5810.0),
        "alpha": (0.317, 0.373),
        "beta": (0.331, 0.415),
    }
    for p, (lo, hi) in bounds.items():
        assert lo <= table.loc[p, "median"] <= hi, (p, table.loc[p, "median"])
    d = fit.diagnostics()
    assert d["chains"] == 4 and d["draws"] == 1000
    assert d["r_hat_max"] <= 1.01
    assert d["ess_bulk_min"] >= 1000
    assert d["divergences"] == 0
    assert np.isfinite(table.values).all()
