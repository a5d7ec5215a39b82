"""The bcrit family: noise-table validation, graph == law, closed-form marginal, fits, coverage."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from bayescale.exceptions import ConvergenceWarning, RunTableError
from bayescale.laws.batch import noise_scale
from bayescale.modeling.build import build_model
from bayescale.modeling.families.bcrit import KAPPA_MAX, prepare, simulate_noise_runs
from bayescale.modeling.fit import load_fit
from bayescale.modeling.model import ScalingModel
from bayescale.modeling.spec import load_spec

TRUE = {"B_star": 3.0e4, "alpha_B": 0.25}
TINY = {"draws": 300, "tune": 300, "chains": 2}
RUNNER_NOISE = Path(__file__).resolve().parents[2] / "datasets" / "runner_cpu" / "runs.noise.csv"


@pytest.fixture(scope="module")
def spec():
    return load_spec("bcrit")


@pytest.fixture(scope="module")
def table():
    return simulate_noise_runs(**TRUE, n_runs=3, n_steps=30, seed=3)


@pytest.fixture(scope="module")
def tiny_fit(table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ScalingModel("bcrit").fit(table, random_seed=2, **TINY)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("col", ["b_small", "b_big", "g2_small", "g2_big"])
def test_prepare_names_missing_column(table, spec, col):
    with pytest.raises(RunTableError, match=f"'{col}'"):
        prepare(table.drop(columns=col), spec)


def test_prepare_needs_a_loss_column(table, spec):
    with pytest.raises(RunTableError, match="'train_loss'"):
        prepare(table.drop(columns="train_loss"), spec)


def test_prepare_accepts_loss_instead_of_train_loss(table, spec):
    out = prepare(table.rename(columns={"train_loss": "loss"}), spec)
    np.testing.assert_allclose(out["train_loss"], table["train_loss"])
    assert out.attrs["loss_column"] == "loss"


def test_prepare_names_the_row_of_a_bad_value(table, spec):
    bad = table.copy()
    bad["g2_big"] = bad["g2_big"].astype(object)
    bad.loc[7, "g2_big"] = "oops"
    with pytest.raises(RunTableError, match=r"'g2_big', row 7"):
        prepare(bad, spec)
    bad = table.copy()
    bad.loc[4, "train_loss"] = -1.0
    with pytest.raises(RunTableError, match=r"'train_loss', row 4"):
        prepare(bad, spec)


def test_prepare_rejects_inconsistent_statistics(table, spec):
    bad = table.copy()
    bad.loc[5, "g2_small"] = bad.loc[5, "g2_big"] * 0.5
    with pytest.raises(RunTableError, match=r"'g2_small', row 5.*must exceed"):
        prepare(bad, spec)
    bad = table.copy()
    bad.loc[2, "b_big"] = bad.loc[2, "b_small"]
    with pytest.raises(RunTableError, match=r"'b_big', row 2"):
        prepare(bad, spec)


def test_prepare_rejects_duplicate_steps(table, spec):
    bad = pd.concat([table, table.iloc[[3]]], ignore_index=True)
    with pytest.raises(RunTableError, match="appears twice"):
        prepare(bad, spec)


def test_simulated_statistics_are_unbiased():
    # constant loss: E[g2_small - g2_big] / E[g2_big] = Bn (1/b_s - 1/b_b) / (1 + Bn/b_b)
    t = simulate_noise_runs(
        **TRUE, n_runs=1, n_steps=400, g2_jitter=0.0, seed=5, loss_start=3.0, loss_end=(3.0, 3.0)
    )
    bn = noise_scale(3.0, **TRUE)
    ratio = (t["g2_small"] - t["g2_big"]).mean() / t["g2_big"].mean()
    assert ratio == pytest.approx(bn * (1 / 1024 - 1 / 2048) / (1 + bn / 2048), rel=0.1)


# ---------------------------------------------------------------- graph == law
def _numpy_pair_logp(x1, x2, log_m, b_small, b_big, bn, kb, kd, nu):
    u_big = 1 + bn / b_big
    u_diff = bn * (1 / b_small - 1 / b_big)
    beta = (nu + 1) * np.exp(log_m)
    rate = kb * x1 / u_big + kd * x2 / u_diff
    s = kb + kd + nu
    return (
        kb * np.log(kb / u_big)
        - special.gammaln(kb)
        + (kb - 1) * np.log(x1)
        + kd * np.log(kd / u_diff)
        - special.gammaln(kd)
        + (kd - 1) * np.log(x2)
        + nu * np.log(beta)
        - special.gammaln(nu)
        + special.gammaln(s)
        - s * np.log(rate + beta)
    )


def test_closed_form_marginal_matches_quadrature():
    x1, x2, log_m, kb, kd, nu, bn = 0.8, 0.3, -0.2, 6.0, 4.0, 7.0, 900.0
    u_big, u_diff = 1 + bn / 2048, bn * (1 / 1024 - 1 / 2048)
    beta = (nu + 1) * np.exp(log_m)

    def integrand(g):
        log_prior = nu * np.log(beta) - special.gammaln(nu) - (nu + 1) * np.log(g) - beta / g
        log_big = (
            kb * np.log(kb / (g * u_big)) + (kb - 1) * np.log(x1) - kb * x1 / (g * u_big)
        ) - special.gammaln(kb)
        log_diff = (
            kd * np.log(kd / (g * u_diff)) + (kd - 1) * np.log(x2) - kd * x2 / (g * u_diff)
        ) - special.gammaln(kd)
        return np.exp(log_prior + log_big + log_diff)

    value, _ = integrate.quad(integrand, 1e-8, 50.0, limit=400)
    closed = _numpy_pair_logp(x1, x2, log_m, 1024, 2048, bn, kb, kd, nu)
    assert np.log(value) == pytest.approx(closed, rel=1e-6)


def test_graph_matches_numpy_law(table, spec):
    runs = prepare(table, spec)
    model, info = build_model(spec, runs)
    point = model.initial_point()
    point.update(
        {
            "alpha_B_interval__": np.asarray(0.0),
            "log_B_ref": np.asarray(6.3),
            "g2_level": np.array([0.1, -0.2, 0.3]),
            "g2_slope": np.array([1.5, 2.0, 2.5]),
            "nu_log__": np.asarray(np.log(8.0)),
            "dim_big_log__": np.asarray(np.log(30.0)),
            "dim_diff_log__": np.asarray(np.log(15.0)),
        }
    )
    outputs = [
        *model.replace_rvs_by_values([model["alpha_B"], model["B_star"]]),
        model.logp(vars=[model["g2"]], sum=False)[0],
    ]
    fn = model.compile_fn(outputs, point_fn=True)
    alpha_b, b_star, logp = fn(point)
    loss = runs["train_loss"].to_numpy()
    lref = info.scales["train_loss"]
    # the law: B_noise(L) = B*/L^(1/alpha_B), with B* from the reference-scale parameter
    assert b_star == pytest.approx(np.exp(6.3 + np.log(lref) / alpha_b))
    bn = noise_scale(loss, B_star=b_star, alpha_B=alpha_b)
    codes = pd.factorize(runs["run_id"], sort=True)[0]
    log_m = np.array([0.1, -0.2, 0.3])[codes] + np.array([1.5, 2.0, 2.5])[codes] * np.log(
        loss / lref
    )
    scale = info.scales["g2"]
    b_small, b_big = runs["b_small"].to_numpy(), runs["b_big"].to_numpy()
    # the estimator's Gamma shapes for effective dimensions 30 (g2_big) and 15 (the spread)
    r = bn / b_big
    kappa_big = 1 / ((4 * r + 2 * r**2) / (30.0 * (1 + r) ** 2) + 1 / KAPPA_MAX)
    kappa_diff = (b_big / b_small - 1) * 15.0 / 2
    expected = _numpy_pair_logp(
        runs["g2_big"].to_numpy() / scale,
        (runs["g2_small"] - runs["g2_big"]).to_numpy() / scale,
        log_m,
        b_small,
        b_big,
        bn,
        kappa_big,
        kappa_diff,
        8.0,
    )
    np.testing.assert_allclose(logp, expected, rtol=1e-8)
    assert len(info.run_ids) == len(runs)


def test_b_star_must_have_a_lognormal_prior(table):
    from bayescale.exceptions import SpecError

    spec = load_spec("bcrit").with_priors({"B_star": {"dist": "HalfNormal", "sigma": 1e9}})
    with pytest.raises(SpecError, match="B_star"):
        build_model(spec, prepare(table, spec))


# ---------------------------------------------------------------- fits
def test_tiny_fit_recovers_truth_and_round_trips(tiny_fit, tmp_path):
    table = tiny_fit.summary(ci_prob=0.99)
    assert list(table.index) == ["B_star", "alpha_B"]
    for name, true in TRUE.items():
        assert table.loc[name, "lower"] < true < table.loc[name, "upper"], name
    assert table.loc["alpha_B", "upper"] - table.loc["alpha_B", "lower"] < 0.1
    loaded = load_fit(tiny_fit.save(tmp_path / "bcrit.nc"))
    assert loaded.law.name == "bcrit"
    assert "g2" in loaded.tree["log_likelihood"].data_vars
    np.testing.assert_allclose(loaded.posterior["B_star"], tiny_fit.posterior["B_star"])


def _cli_fit_and_summary(data, tmp_path, capsys):
    import json

    from bayescale.cli import main

    out = tmp_path / "bcrit.nc"
    code = main(
        [
            "fit",
            "--data",
            str(data),
            "--law",
            "bcrit",
            "--seed",
            "1",
            "--draws",
            str(TINY["draws"]),  # the spec's id (a compile-cache key) includes the sampler
            "--tune",
            str(TINY["tune"]),
            "--chains",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    _, err = capsys.readouterr()
    assert code == 0, err
    assert main(["summary", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr()[0])
    assert set(data) == {"B_star", "alpha_B"}
    assert 0.02 < data["alpha_B"]["median"] < 2.0
    assert data["B_star"]["lower"] < data["B_star"]["median"] < data["B_star"]["upper"]
    return data


def test_cli_fits_a_noise_file(table, tiny_fit, tmp_path, capsys):
    csv = tmp_path / "runs.noise.csv"
    table.to_csv(csv, index=False)  # same shape as tiny_fit: reuses its compiled model
    data = _cli_fit_and_summary(csv, tmp_path, capsys)
    assert data["B_star"]["lower"] < TRUE["B_star"] * 3


@pytest.mark.slow
def test_cli_fits_the_runner_noise_file(tmp_path, capsys):
    _cli_fit_and_summary(RUNNER_NOISE, tmp_path, capsys)


def test_cli_names_the_missing_noise_column(tmp_path, capsys):
    from bayescale.cli import main

    csv = tmp_path / "noise.csv"
    simulate_noise_runs(n_runs=1, n_steps=5).drop(columns="g2_big").to_csv(csv, index=False)
    code = main(["fit", "--data", str(csv), "--law", "bcrit", "--out", str(tmp_path / "f.nc")])
    assert code == 2
    assert "'g2_big'" in capsys.readouterr()[1]


# ---------------------------------------------------------------- coverage (slow)
@pytest.mark.slow
def test_interval_coverage_over_40_seeds():
    """With statistics simulated from known B*, alpha_B, the 90% intervals cover the truth."""
    covered = dict.fromkeys(TRUE, 0)
    n = 40
    for seed in range(n):
        rng = np.random.default_rng(1000 + seed)
        truth = {
            "B_star": float(np.exp(rng.uniform(np.log(1e4), np.log(1e5)))),
            "alpha_B": float(rng.uniform(0.18, 0.32)),
        }
        runs = simulate_noise_runs(**truth, n_runs=3, n_steps=30, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = ScalingModel("bcrit").fit(runs, draws=500, tune=500, chains=2, random_seed=seed)
        table = fit.summary(ci_prob=0.9)
        for name, true in truth.items():
            covered[name] += int(table.loc[name, "lower"] <= true <= table.loc[name, "upper"])
    print({k: v / n for k, v in covered.items()})
    for name, hits in covered.items():
        assert hits / n >= 0.85, (name, hits)
