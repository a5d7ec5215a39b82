"""``bayescale compare`` on saved fits (fake posteriors; refits mocked)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from bayescale.cli import main
from bayescale.modeling import _container
from bayescale.modeling.spec import Likelihood
from bayescale.testing import EPOCH_POSTERIOR, fake_fit, synthetic_runs

TRUTH = {k: v[0] for k, v in EPOCH_POSTERIOR.items()}


def runs_table(n: int) -> pd.DataFrame:
    return synthetic_runs("chinchilla", values=TRUTH, n=n, noise=0.01, seed=0)


def normal_fit(runs, *, shift=0.0, seed=0, rel=1e-4):
    """Fake Chinchilla fit (Normal likelihood) around the truth, alpha shifted by ``shift``."""
    post = {k: (v, rel) for k, v in TRUTH.items() if k != "sigma"}
    post["alpha"] = (TRUTH["alpha"] + shift, rel)
    post["sigma"] = (0.01, 0.02)
    fit = fake_fit("chinchilla", posterior=post, runs=runs, draws=300, seed=seed)
    fit.spec = replace(fit.spec, likelihood=Likelihood(dist="Normal"))
    return fit


def with_log_likelihood(fit):
    """Add the pointwise log-likelihood group (variable ``log_loss``) a real fit stores."""
    post, law = fit.posterior, fit.law
    inputs = [xr.DataArray(fit.runs[c].to_numpy(), dims="run") for c in law.inputs]
    mu = np.log(law.loss(*inputs, **{p: post[p] for p in law.params}))
    y = xr.DataArray(np.log(fit.runs["loss"].to_numpy()), dims="run")
    ll = xr.apply_ufunc(stats.norm.logpdf, y, mu, post["sigma"]).transpose("chain", "draw", "run")
    _container.add_group(fit.tree, "log_likelihood", xr.Dataset({"log_loss": ll}))
    return fit


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def two_fits(tmp_path):
    runs = runs_table(80)
    good = with_log_likelihood(normal_fit(runs)).save(tmp_path / "good.nc")
    bad = with_log_likelihood(normal_fit(runs, shift=0.005, seed=1))
    return good, bad.save(tmp_path / "bad.nc")


def test_compare_loo_json(two_fits, capsys):
    good, bad = two_fits
    code, out, err = run_cli(
        ["compare", str(bad), str(good), "--names", "bad,good", "--json", "--quiet"], capsys
    )
    assert code == 0, err
    rows = json.loads(out)
    assert [r["model"] for r in rows] == ["good", "bad"]
    assert rows[0]["elpd_diff"] == 0 and rows[1]["elpd_diff"] < 0
    assert {"elpd_loo", "se", "weight", "pareto_k_bad"} <= set(rows[0])


def test_compare_loo_csv(two_fits, tmp_path, capsys):
    good, bad = two_fits
    out_csv = tmp_path / "cmp.csv"
    code, _, err = run_cli(["compare", str(good), str(bad), "--out", str(out_csv)], capsys)
    assert code == 0, err
    table = pd.read_csv(out_csv)
    assert table["model"].tolist() == ["chinchilla", "chinchilla#2"]


def test_compare_extrapolation(two_fits, capsys, monkeypatch):
    calls = []

    def fake_fit_method(self, lower, **kwargs):
        calls.append((len(lower), kwargs["draws"], kwargs["random_seed"]))
        return normal_fit(lower, seed=len(calls))

    monkeypatch.setattr("bayescale.modeling.model.ScalingModel.fit", fake_fit_method)
    good, bad = two_fits
    code, out, err = run_cli(
        [
            "compare",
            str(good),
            str(bad),
            "--method",
            "extrapolation",
            "--threshold",
            "1e9",
            "--on",
            "params",
            "--draws",
            "100",
            "--seed",
            "3",
        ],
        capsys,
    )
    assert code == 0, err
    assert len(calls) == 2 and calls[0][1:] == (100, 3)
    assert "coverage_90" in out and "crps" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "extrapolation"], "needs --threshold"),
        (["--threshold", "1e9"], "extrapolation only"),
    ],
)
def test_compare_argument_errors(two_fits, capsys, extra, message):
    good, bad = two_fits
    code, _, err = run_cli(["compare", str(good), str(bad), *extra], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_compare_missing_file(tmp_path, capsys):
    code, _, err = run_cli(["compare", str(tmp_path / "nope.nc"), str(tmp_path / "b.nc")], capsys)
    assert code == 2 and "nope.nc" in err
