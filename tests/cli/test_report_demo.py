"""``bayescale report`` and ``bayescale demo`` end to end (tiny sampler settings)."""

from __future__ import annotations

import re
import warnings

import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.testing import fake_fit, synthetic_runs


@pytest.fixture
def two_figures(monkeypatch):
    """Draw only two figures: these tests check the wiring; tests/report checks the figures."""
    from bayescale.report import html

    keep = {k: html.FIGURES[k] for k in ("loss_params", "frontier")}
    monkeypatch.setattr(html, "FIGURES", keep)


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    fake_fit("chinchilla", draws=100).save(path)
    return path


def test_report_command(fit_file, tmp_path, capsys, two_figures):
    out = tmp_path / "r" / "report.html"
    code = main(["report", str(fit_file), "--out", str(out), "--flops", "1e20", "1e22"])
    assert code == 0
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "1e+20" in page and "1e+22" in page and "1e+25" not in page
    err = capsys.readouterr().err
    assert "drawing the report" in err and f"wrote {out}" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.nc", "--out", "r.html"], "missing.nc: no such fit file"),
        (["FIT", "--out", "r.html", "--ci", "1.5"], "argument --ci: must be between 0 and 1"),
        (["FIT", "--out", "r.html", "--flops", "-1"], "argument --flops: must be positive"),
    ],
)
def test_report_command_errors(fit_file, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [str(fit_file) if a == "FIT" else a for a in args]
    assert main(["report", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "r.html").exists()


def test_demo_budgets():
    from bayescale.cli.demo import demo_budgets

    assert demo_budgets(1e13) == [1e13, 3e13, 1e14, 3e14]
    assert demo_budgets(1.01e13) == [1e14, 3e14, 1e15, 3e15]


def test_demo_offline(tmp_path, capsys, monkeypatch, two_figures):
    """The demo's whole job on a small stand-in for the bundled runner table."""
    runs = synthetic_runs(n=30, seed=3)
    runs.attrs.update(dataset="runner_cpu_standin", sha256="0" * 64)
    asked = []

    def load_dataset(name):
        asked.append(name)
        return runs

    monkeypatch.setattr(bs, "load_dataset", load_dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.exceptions.ConvergenceWarning)
        out = str(tmp_path / "demo")
        code = main(["demo", "--out", out, "--draws", "200", "--tune", "200", "--chains", "2"])
    assert code == 0
    assert asked == ["runner_cpu"]
    captured = capsys.readouterr()
    assert "Posterior summary" in captured.out
    assert re.search(r"^\s*alpha\s+0\.\d+", captured.out, re.M)
    assert "Compute-optimal allocation" in captured.out
    assert re.search(
        r"^Prior predictive check \(chinchilla_small priors\): \d+ of 30 runs", captured.out, re.M
    )
    assert "extrap_C" in captured.out
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]", "done in"):
        assert step in captured.err
    page = (tmp_path / "demo" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "runner_cpu_standin" in page
    loaded = bs.load_fit(tmp_path / "demo" / "fit.nc")
    assert len(loaded.runs) == 30


def test_demo_without_the_dataset_is_one_clear_line(tmp_path, capsys, monkeypatch):
    from bayescale.exceptions import DatasetError

    def missing(name):
        raise DatasetError(f"unknown dataset {name!r}")

    monkeypatch.setattr(bs, "load_dataset", missing)
    assert main(["demo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "bayescale: error: unknown dataset 'runner_cpu'"


@pytest.mark.parametrize(("spec", "covers"), [("chinchilla_small", True), ("chinchilla", False)])
def test_the_demo_priors_cover_the_bundled_table(spec, covers):
    """The demo's spec puts >= 50% of runner_cpu's runs inside the prior 90% interval;
    Chinchilla's published-centred priors (70M-16B models) do not."""
    from bayescale.cli.demo import DEMO_SPEC, prior_coverage
    from bayescale.modeling.spec import load_spec

    assert DEMO_SPEC == "chinchilla_small"
    fit = fake_fit("chinchilla", draws=10, runs=bs.load_dataset("runner_cpu"))
    fit.spec = load_spec(spec)
    inside, n = prior_coverage(fit)
    assert n == 30
    assert (inside / n >= 0.5) is covers, f"{spec}: {inside} of {n}"
