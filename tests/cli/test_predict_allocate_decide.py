"""The predict, allocate and decide subcommands, in process, on saved fake fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.cli import main
from bayescale.testing import fake_fit


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory):
    return fake_fit("chinchilla", draws=200).save(tmp_path_factory.mktemp("fits") / "f.nc")


@pytest.fixture(scope="module")
def pooled_path(tmp_path_factory):
    from tests.analysis.test_predict import pooled_fit

    return pooled_fit(draws=100).save(tmp_path_factory.mktemp("fits") / "pooled.nc")


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_points(fit_path, tmp_path, capsys):
    out = tmp_path / "bands.csv"
    code, _, err = run_cli(
        ["predict", fit_path, "--params", 1e9, 7e10, "--tokens", 2e10, 1.4e12, "--out", out],
        capsys,
    )
    assert code == 0, err
    table = pd.read_csv(out)
    assert table.columns.tolist() == [
        "params",
        "tokens",
        "loss_median",
        "loss_lower",
        "loss_upper",
        "extrap_N",
        "extrap_D",
        "extrap_C",
    ]
    assert (table.loss_lower < table.loss_median).all() and (
        table.loss_median < table.loss_upper
    ).all()


def test_predict_at_file_keeps_columns_and_predictive_is_wider(fit_path, tmp_path, capsys):
    at = tmp_path / "at.csv"
    pd.DataFrame({"label": ["a", "b"], "params": [1e9, 7e10], "tokens": [2e10, 1.4e12]}).to_csv(
        at, index=False
    )
    mean, pred = tmp_path / "m.csv", tmp_path / "p.csv"
    assert run_cli(["predict", fit_path, "--at", at, "--out", mean], capsys)[0] == 0
    code, _, err = run_cli(
        [
            "predict",
            fit_path,
            "--at",
            at,
            "--kind",
            "predictive",
            "--seed",
            1,
            "--ci",
            0.8,
            "--out",
            pred,
        ],
        capsys,
    )
    assert code == 0, err
    m, p = pd.read_csv(mean), pd.read_csv(pred)
    assert m["label"].tolist() == ["a", "b"]
    assert ((p.loss_upper - p.loss_lower) > 0).all()
    assert (p.loss_upper - p.loss_lower).iloc[1] > 0.8 * (m.loss_upper - m.loss_lower).iloc[1]


def test_predict_grid(fit_path, tmp_path, capsys):
    out = tmp_path / "grid.csv"
    code, _, err = run_cli(
        [
            "predict",
            fit_path,
            "--params",
            1e8,
            1e9,
            1e10,
            "--tokens",
            1e10,
            1e11,
            "--grid",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    assert len(pd.read_csv(out)) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--params", 1e9], "'tokens'"),
        ([], "no points"),
        (["--params", 1e9, "--tokens", 1e10, "--at", "x.csv"], "not both"),
        (["--params", 1e9, "--tokens", 1e10, "--ci", 2], "argument --ci"),
        (["--params", 1e9, "--tokens", 1e10, "--group", "a"], "pools nothing"),
        (["--params", 1e9, "--tokens", 1e10, "--new-group"], "refit with --group COLUMN"),
        (["--params", 70e9, "--flops", 1], "below one training token"),
    ],
)
def test_predict_errors_are_one_line(fit_path, tmp_path, capsys, args, message):
    code, _, err = run_cli(["predict", fit_path, *args, "--out", tmp_path / "x.csv"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("bayescale: error:")
    assert message in err


def test_predict_missing_file(tmp_path, capsys):
    code, _, err = run_cli(
        [
            "predict",
            tmp_path / "nope.nc",
            "--params",
            1e9,
            "--tokens",
            1e10,
            "--out",
            tmp_path / "x.csv",
        ],
        capsys,
    )
    assert code == 2 and "nope.nc" in err


def test_allocate_columns(fit_path, tmp_path, capsys):
    out = tmp_path / "alloc.csv"
    code, _, err = run_cli(["allocate", fit_path, "--flops", 1e21, 5.76e23, "--out", out], capsys)
    assert code == 0, err
    table = pd.read_csv(out)
    names = ("params_opt", "tokens_opt", "tokens_per_param", "loss_opt")
    assert table.columns.tolist() == ["flops"] + [
        f"{n}_{s}" for n in names for s in ("median", "lower", "upper")
    ] + ["extrap_N", "extrap_D", "extrap_C"]
    np.testing.assert_allclose(table["flops"], [1e21, 5.76e23])


# ---------------------------------------------------------------- answers on the terminal
def test_predict_prints_a_table_without_out(fit_path, capsys):
    code, out, err = run_cli(["predict", fit_path, "--params", 7e10, "--tokens", 1.4e12], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("# mean loss band, 90% equal-tailed interval; units: loss in nats")
    assert lines[1].split() == [
        "params",
        "tokens",
        "loss_median",
        "loss_lower",
        "loss_upper",
        "extrap_N",
        "extrap_D",
        "extrap_C",
    ]
    assert lines[2].split()[:2] == ["7e+10", "1.4e+12"]


def test_out_dash_is_csv_on_stdout_and_no_file(fit_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(
        ["predict", fit_path, "--params", 7e10, "--tokens", 1.4e12, "--out", "-"], capsys
    )
    assert code == 0, err
    assert not (tmp_path / "-").exists()
    from io import StringIO

    table = pd.read_csv(StringIO(out))
    assert table["params"].tolist() == [7e10] and "loss_median" in table


@pytest.mark.parametrize("command", ["predict", "allocate", "decide"])
def test_json_prints_records(fit_path, capsys, command):
    args = {
        "predict": ["--params", 7e10, "--tokens", 1.4e12],
        "allocate": ["--flops", 1e21],
        "decide": ["--flops", 1e21, "--candidates", "posterior_optimal", "kaplan"],
    }[command]
    code, out, err = run_cli([command, fit_path, *args, "--json"], capsys)
    assert code == 0, err
    import json

    records = json.loads(out)
    assert isinstance(records, list) and records
    assert {"extrap_N", "extrap_D", "extrap_C"} <= set(records[0])


def test_json_and_out_dash_conflict(fit_path, capsys):
    code, _, err = run_cli(
        ["predict", fit_path, "--params", 7e10, "--tokens", 1.4e12, "--json", "--out", "-"], capsys
    )
    assert code == 2 and "one of --json and --out -" in err


def test_allocate_prints_a_table_and_writes_out_when_asked(fit_path, tmp_path, capsys):
    code, out, err = run_cli(["allocate", fit_path, "--flops", 1e21, 5.76e23], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(
        "# compute-optimal allocation (numeric, predictive), medians and 90% intervals"
    )
    header = lines[1].split()
    assert header[:4] == ["flops", "params_opt_median", "params_opt_lower", "params_opt_upper"]
    assert header[-3:] == ["extrap_N", "extrap_D", "extrap_C"]
    assert len(lines) == 4
    assert not list(tmp_path.iterdir())


def test_far_extrapolation_warns_with_the_distance(tmp_path, capsys):
    """A table whose largest model is 1.6M parameters, asked about 70B/1.4T: rc 0, warned."""
    from bayescale.data.registry import load_dataset

    small = load_dataset("runner_cpu")  # bundled: 30 CPU runs, N up to 1.58e6
    path = fake_fit("chinchilla", draws=100, runs=small).save(tmp_path / "small.nc")
    code, out, err = run_cli(["predict", path, "--params", 70e9, "--tokens", 1.4e12], capsys)
    assert code == 0, err
    assert "bayescale: WARNING: 1 of 1 row(s) lie up to" in err
    assert "decades beyond the fitted range" in err and "fit runs closer" in err
    row = out.splitlines()[2].split()
    assert float(row[-3]) == pytest.approx(np.log10(70e9 / small["params"].max()), abs=0.01)


def test_allocate_refuses_a_budget_below_one_token(fit_path, capsys):
    code, _, err = run_cli(["allocate", fit_path, "--flops", 1e-3], capsys)
    assert code == 2 and "below one" in err and "raise the compute" in err


def test_decide_marks_over_budget_candidates_apart(fit_path, capsys):
    code, out, err = run_cli(
        ["decide", fit_path, "--flops", 1e22, "--candidates", "posterior_optimal", "2e10:4.9e11"],
        capsys,
    )
    assert code == 0, err
    head, _, tail = out.partition("# OVER BUDGET, not ranked: 1 candidate(s) spend more than 1e+22")
    assert "posterior_optimal" in head and "N=2e+10,D=4.9e+11" not in head
    assert "N=2e+10,D=4.9e+11" in tail and "5.88" in tail  # budget_used
    assert "p_best" not in tail.splitlines()[1]


def test_allocate_inference_tokens(fit_path, tmp_path, capsys):
    plain, served = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli(["allocate", fit_path, "--flops", 1e24, "--out", plain], capsys)[0] == 0
    code, _, err = run_cli(
        ["allocate", fit_path, "--flops", 1e24, "--inference-tokens", 2e13, "--out", served],
        capsys,
    )
    assert code == 0, err
    a, b = pd.read_csv(plain), pd.read_csv(served)
    assert b.params_opt_median[0] < a.params_opt_median[0]


def test_allocate_and_decide_kind(fit_path, tmp_path, capsys):
    # the default carries the spec's discrepancy (wider past the data); --kind mean the law alone
    paths = {k: tmp_path / f"{k}.csv" for k in ("predictive", "mean")}
    for kind, path in paths.items():
        args = ["allocate", fit_path, "--flops", 1e25, "--seed", 1, "--out", path]
        code, _, err = run_cli(args + ([] if kind == "predictive" else ["--kind", kind]), capsys)
        assert code == 0, err
    pred, mean = (pd.read_csv(paths[k]) for k in ("predictive", "mean"))
    width = [np.log(t.loss_opt_upper[0] / t.loss_opt_lower[0]) for t in (pred, mean)]
    assert width[0] > 1.2 * width[1]
    code, out, err = run_cli(
        ["decide", fit_path, "--flops", 1e25, "--candidates", "chinchilla_20", "--kind", "mean"],
        capsys,
    )
    assert code == 0 and "; mean;" in out, err


def test_allocate_pooled_has_group_column(pooled_path, tmp_path, capsys):
    out = tmp_path / "g.csv"
    code, _, err = run_cli(["allocate", pooled_path, "--flops", 1e21, 1e23, "--out", out], capsys)
    assert code == 0, err
    table = pd.read_csv(out)
    assert table.columns[:2].tolist() == ["flops", "group"]
    assert sorted(set(table.group)) == ["a", "b"]
    one = tmp_path / "one.csv"
    code, _, err = run_cli(
        ["allocate", pooled_path, "--flops", 1e21, "--group", "b", "--out", one], capsys
    )
    assert code == 0, err
    assert "group" not in pd.read_csv(one).columns
    new = tmp_path / "new.csv"
    code, _, err = run_cli(
        ["allocate", pooled_path, "--flops", 1e21, "--new-group", "--seed", 2, "--out", new],
        capsys,
    )
    assert code == 0, err


def test_predict_pooled_has_group_column(pooled_path, tmp_path, capsys):
    out = tmp_path / "g.csv"
    code, _, err = run_cli(
        ["predict", pooled_path, "--params", 1e9, "--tokens", 1e10, "--out", out], capsys
    )
    assert code == 0, err
    assert pd.read_csv(out).columns[:3].tolist() == ["params", "tokens", "group"]


def test_predict_pooled_at_file_with_group_column(pooled_path, tmp_path, capsys):
    at = tmp_path / "at.csv"
    pd.DataFrame(
        {"params": [1e9, 1e10, 1e9], "tokens": [1e11] * 3, "family": ["b", "a", "new"], "loss": 2.0}
    ).to_csv(at, index=False)
    out = tmp_path / "p.csv"
    code, _, err = run_cli(
        ["predict", pooled_path, "--at", at, "--kind", "predictive", "--seed", 1, "--out", out],
        capsys,
    )
    assert code == 0, err
    table = pd.read_csv(out)
    assert len(table) == 3 and table["family"].tolist() == ["b", "a", "new"]
    assert "loss_observed" in table.columns and "group" not in table.columns
    assert "'family'" not in err and "family value(s) new are not in the fit" in err
    code, _, err = run_cli(
        ["predict", pooled_path, "--at", at, "--quiet", "--out", out, "--force"], capsys
    )
    assert code == 0 and "not in the fit" in err  # a note about the data, not progress


def test_decide_prints_and_writes(fit_path, tmp_path, capsys):
    out = tmp_path / "d.csv"
    code, stdout, err = run_cli(
        [
            "decide",
            fit_path,
            "--flops",
            5.76e23,
            "--candidates",
            "posterior_optimal",
            "hoffmann_a3",
            "70e9:1.4e12",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    assert "hoffmann_a3" in stdout and "regret_mean" in stdout
    table = pd.read_csv(out)
    assert table["candidate"].tolist() == ["posterior_optimal", "hoffmann_a3", "N=7e+10,D=1.4e+12"]
    assert table["p_best"].sum() == pytest.approx(1.0)


def test_decide_inference_and_target(fit_path, capsys):
    code, stdout, err = run_cli(
        [
            "decide",
            fit_path,
            "--flops",
            1e24,
            "--inference-tokens",
            1e13,
            "--unique-tokens",
            5e11,
            "--target-loss",
            2.0,
        ],
        capsys,
    )
    assert code == 0, err
    assert "serving 1e+13 tokens" in stdout and "saving_median" in stdout


def test_decide_pooled_groups(pooled_path, capsys):
    code, stdout, err = run_cli(
        ["decide", pooled_path, "--flops", 1e22, "--candidates", "chinchilla_20"], capsys
    )
    assert code == 0, err
    assert "group=a" in stdout and "group=b" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--flops"),
        (["--flops", 1e22, "--candidates", "bogus"], "neither a built-in"),
        (["--flops", 1e22, "--risk-quantile", 1.5], "argument --risk-quantile"),
    ],
)
def test_decide_errors(fit_path, capsys, args, message):
    code, _, err = run_cli(["decide", fit_path, *args], capsys)
    assert code == 2 and message in err


def test_backtest_command_writes_rows_summary_and_plot(tmp_path, capsys):
    from bayescale.testing import synthetic_runs

    data = tmp_path / "runs.csv"
    runs = synthetic_runs("chinchilla", n=24, seed=2)
    runs.to_csv(data, index=False)
    cut = float(np.quantile(runs.flops, 0.6))
    out, summary, plot = tmp_path / "rows.csv", tmp_path / "s.csv", tmp_path / "c.png"
    args = ["backtest", "--data", data, "--cuts", cut, "--draws", 200, "--tune", 200]
    args += ["--chains", 2, "--cache", tmp_path / "cache", "--summary", summary, "--plot", plot]
    code, stdout, err = run_cli([*args, "--out", out], capsys)
    assert code == 0, err
    rows = pd.read_csv(out)
    assert len(rows) == int((runs.flops > cut).sum()) and "interval_score_90" in rows.columns
    assert "coverage_90" in stdout and pd.read_csv(summary)["n"].sum() == len(rows)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli([*args, "--out", out], capsys)
    assert code == 0 and "(cached fit)" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--where", "nocol=1"], "no column 'nocol'"),
        (["--where", "oops"], "expected COL=VALUE"),
        (["--factors", 0.5], "must each exceed 1"),
        (["--draws", 0], "--draws must be at least 1"),
    ],
)
def test_backtest_errors_are_one_line(tmp_path, capsys, extra, message):
    from bayescale.testing import synthetic_runs

    data = tmp_path / "runs.csv"
    synthetic_runs("chinchilla", n=12).to_csv(data, index=False)
    code, _, err = run_cli(["backtest", "--data", data, *extra, "--out", tmp_path / "o"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
