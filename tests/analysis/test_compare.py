"""Model comparison: LOO table, extrapolation scores, CRPS, Kaplan vs Chinchilla (no MCMC)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import bayescale as bs
from bayescale.analysis import compare as cmp
from bayescale.analysis.compare import (
    ParetoKWarning,
    _crps_samples,
    compare,
    extrapolation_scores,
    loo_table,
    split_runs,
)
from bayescale.exceptions import BayescaleError, RunTableError
from bayescale.modeling import _container
from bayescale.modeling.spec import Likelihood
from bayescale.testing import EPOCH_POSTERIOR, fake_fit, synthetic_runs

TRUTH = {k: v[0] for k, v in EPOCH_POSTERIOR.items()}
NOISE = 0.01


def runs_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    return synthetic_runs("chinchilla", values=TRUTH, n=n, noise=NOISE, seed=seed)


def normal_fit(
    runs: pd.DataFrame, *, shift: float = 0.0, seed: int = 0, draws: int = 400, rel: float = 0.002
):
    """A fake Chinchilla fit (Normal likelihood) around the truth, alpha shifted by ``shift``."""
    post = {k: (v, rel) for k, v in TRUTH.items() if k != "sigma"}
    post["alpha"] = (TRUTH["alpha"] + shift, rel)
    post["sigma"] = (NOISE, 0.02)
    fit = fake_fit("chinchilla", posterior=post, runs=runs, draws=draws, seed=seed)
    fit.spec = replace(fit.spec, likelihood=Likelihood(dist="Normal"))
    return fit


def with_log_likelihood(fit, *, spike: int | None = None):
    """Add the pointwise log-likelihood group a real fit stores (variable ``log_loss``)."""
    post = fit.posterior
    law = fit.law
    inputs = [xr.DataArray(fit.runs[c].to_numpy(), dims="run") for c in law.inputs]
    mu = np.log(law.loss(*inputs, **{p: post[p] for p in law.params}))
    y = xr.DataArray(np.log(fit.runs["loss"].to_numpy()), dims="run")
    ll = xr.apply_ufunc(stats.norm.logpdf, y, mu, post["sigma"]).transpose("chain", "draw", "run")
    if spike is not None:  # one run whose likelihood is dominated by a few draws
        rng = np.random.default_rng(0)
        values = ll.values.copy()
        # log importance ratios ~ Exponential(mean 1.5): a Pareto tail with k ≈ 1.5
        values[..., spike] = -rng.exponential(1.5, size=values.shape[:2])
        ll = ll.copy(data=values)
    _container.add_group(fit.tree, "log_likelihood", xr.Dataset({"log_loss": ll}))
    return fit


# ------------------------------------------------------------------------------- LOO
def test_loo_prefers_the_true_model():
    runs = runs_table(120)
    good = with_log_likelihood(normal_fit(runs, rel=1e-4))
    bad = with_log_likelihood(normal_fit(runs, shift=0.005, seed=1, rel=1e-4))
    table = loo_table({"good": good, "bad": bad})
    assert list(table.index) == ["good", "bad"]
    assert table.loc["good", "rank"] == 0 and table.loc["good", "elpd_diff"] == 0
    assert table.loc["bad", "elpd_diff"] < 0  # ArviZ 1.x: difference to the best, <= 0
    assert table.loc["good", "elpd_loo"] > table.loc["bad", "elpd_loo"]
    assert table["n_runs"].tolist() == [120, 120]
    assert {"se", "p_loo", "dse", "weight", "pareto_k_max", "pareto_k_bad"} <= set(table.columns)
    assert table["weight"].sum() == pytest.approx(1.0)


def test_loo_reports_bad_pareto_k():
    runs = runs_table(60)
    fit = with_log_likelihood(normal_fit(runs, rel=1e-4), spike=3)
    with pytest.warns(ParetoKWarning, match=r"Pareto k > 0.7 \(chinchilla: 1 run"):
        table = loo_table([fit])
    assert table.loc["chinchilla", "pareto_k_bad"] == 1


def test_loo_refuses_different_losses_and_missing_log_likelihood():
    a = with_log_likelihood(normal_fit(runs_table(60, seed=0)))
    b = with_log_likelihood(normal_fit(runs_table(60, seed=1)))
    with pytest.raises(BayescaleError, match="same losses"):
        loo_table([a, b], names=["a", "b"])
    with pytest.raises(BayescaleError, match="log_likelihood"):
        loo_table([normal_fit(runs_table(60))])


def test_names_are_deduplicated_and_checked():
    runs = runs_table(60)
    fits = [with_log_likelihood(normal_fit(runs, seed=i, rel=1e-4)) for i in range(2)]
    assert list(loo_table(fits).index) != [] and set(loo_table(fits).index) == {
        "chinchilla",
        "chinchilla#2",
    }
    with pytest.raises(BayescaleError, match="2 fits"):
        loo_table(fits, names=["x"])


# ------------------------------------------------------------------------ extrapolation
def test_split_runs_names_the_column():
    runs = runs_table(40)
    with pytest.raises(RunTableError, match="'params_nonembedding'"):
        split_runs(runs, threshold=1e9, on="params_nonembedding")
    low, high = split_runs(runs, threshold=1e9, on="params")
    assert (low["params"] <= 1e9).all() and (high["params"] > 1e9).all()
    assert len(low) + len(high) == len(runs)
    with pytest.raises(RunTableError, match="no run above"):
        split_runs(runs, threshold=1e12, on="params")


def test_crps_matches_the_normal_closed_form():
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((3, 40_000))
    y = np.array([0.0, 1.0, -2.0])
    exact = y * (2 * stats.norm.cdf(y) - 1) + 2 * stats.norm.pdf(y) - 1 / np.sqrt(np.pi)
    np.testing.assert_allclose(_crps_samples(samples, y), exact, rtol=0.02)


def test_extrapolation_scores_of_the_true_model_are_calibrated():
    runs = runs_table(400)
    threshold = float(np.quantile(runs["params"], 0.5))
    fit = normal_fit(runs)
    low, _ = split_runs(runs, threshold=threshold, on="params")
    refit = normal_fit(low, seed=3, draws=1000)
    scores = extrapolation_scores(fit, threshold=threshold, on="params", refit=refit, random_seed=0)
    assert scores["n_held_out"] == 200 and scores["n_fit"] == 200
    assert 0.38 < scores["coverage_50"] < 0.62
    assert 0.83 < scores["coverage_90"] < 0.96
    assert scores["mare"] < 0.02
    # the expected log density of log loss under the true noise: log(1/(σ√(2πe)))
    assert scores["lpd"] == pytest.approx(-np.log(NOISE * np.sqrt(2 * np.pi * np.e)), abs=0.3)
    wrong = normal_fit(low, shift=0.03, seed=4, draws=1000)
    bad = extrapolation_scores(fit, threshold=threshold, on="params", refit=wrong, random_seed=0)
    assert bad["lpd"] < scores["lpd"] and bad["crps"] > scores["crps"]
    assert bad["coverage_90"] < scores["coverage_90"]


def test_compare_extrapolation_refits_and_ranks(monkeypatch):
    """Wiring: compare() refits each spec on the lower runs (sampling mocked) and ranks by LPD."""
    runs = runs_table(200)
    shifts = {"good": 0.0, "bad": 0.03}
    seen = []

    def fake_fit_method(self, lower, **kwargs):
        seen.append((self.spec.name, len(lower), kwargs["draws"]))
        shift = shifts["bad"] if len(seen) == 2 else shifts["good"]
        return normal_fit(lower, shift=shift, seed=len(seen))

    monkeypatch.setattr("bayescale.modeling.model.ScalingModel.fit", fake_fit_method)
    fits = [normal_fit(runs), normal_fit(runs, seed=2)]
    table = compare(
        fits, method="extrapolation", threshold=1e9, on="params", names=["good", "bad"], draws=50
    )
    n_low = int((runs["params"] <= 1e9).sum())
    assert seen == [("chinchilla", n_low, 50), ("chinchilla", n_low, 50)]
    assert list(table.index) == ["good", "bad"] and table["rank"].tolist() == [0, 1]
    assert table.attrs["threshold"] == 1e9
    for col in ("coverage_50", "coverage_90", "lpd", "crps", "mare", "n_fit", "n_held_out"):
        assert col in table.columns


def test_compare_argument_errors(fake_chinchilla_fit):
    with pytest.raises(BayescaleError, match="threshold"):
        compare([fake_chinchilla_fit], method="extrapolation")
    with pytest.raises(BayescaleError, match="method"):
        compare([fake_chinchilla_fit], method="waic")  # type: ignore[arg-type]


def test_extrapolation_refuses_the_isoflop_family(fake_chinchilla_fit):
    fit = fake_chinchilla_fit
    fit.spec = bs.load_spec("isoflop")
    with pytest.raises(BayescaleError, match="loss law"):
        extrapolation_scores(fit, threshold=1e20)


def test_kaplan_vs_chinchilla_table(monkeypatch):
    """Wiring of the side-by-side analysis with mocked sampling."""
    runs = runs_table(150)
    runs["params_nonembedding"] = runs["params"] * 0.8
    calls = []

    def fake_fit_method(self, table, **kwargs):
        calls.append((self.spec.law, table.attrs.get("params_kind"), len(table)))
        if self.spec.law == "kaplan":
            kap = fake_fit("kaplan", runs=table, draws=300, seed=len(calls))
            return with_log_likelihood(kap)
        return with_log_likelihood(normal_fit(table, seed=len(calls), rel=1e-4))

    monkeypatch.setattr("bayescale.modeling.model.ScalingModel.fit", fake_fit_method)
    with pytest.warns(ParetoKWarning, match="kaplan"):  # the fake Kaplan posterior misfits
        table = cmp.kaplan_vs_chinchilla(runs, threshold=8e8, on="params_nonembedding", draws=10)
    assert table.loc["kaplan", "pareto_k_bad"] > 0
    assert list(table.index) == ["kaplan", "chinchilla"]
    assert calls[0][:2] == ("kaplan", "non_embedding") and calls[1][0] == "chinchilla"
    assert len(calls) == 4  # two full fits, two refits below the threshold
    assert calls[2][2] == int((runs["params_nonembedding"] <= 8e8).sum())
    for col in ("elpd_loo", "elpd_diff", "coverage_90", "lpd", "crps", "mare", "a_median"):
        assert col in table.columns
    a = table.loc["chinchilla"]
    assert a["a_lower"] < a["a_median"] < a["a_upper"]
    assert a["a_median"] == pytest.approx(
        TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"]), abs=0.01
    )
    # Chinchilla generated the data: it wins on LOO
    assert table.loc["chinchilla", "elpd_diff"] == 0


def test_bs_compare_is_the_function():
    assert bs.compare is compare
